package kmproto

import (
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tokens"
)

// Command is a Keymaster TA command identifier (the commandID of
// TEEC_InvokeCommand). The operation commands take AOSP's
// AndroidKeymasterCommand numbers (android_keymaster_messages.h:
// GENERATE_KEY = 0, BEGIN_OPERATION = 1, UPDATE_OPERATION = 2,
// FINISH_OPERATION = 3, ABORT_OPERATION = 4). GET_AUTH_TOKEN_KEY is
// Trusty's KM_GET_AUTH_TOKEN_KEY, served there on a separate secure port;
// fpemu has one socket per TA, so it is moved to 0x10000
// (docs/protocol.md §2.1).
type Command uint32

// Keymaster TA commands.
const (
	CmdGenerateKey     Command = 0       // GENERATE_KEY
	CmdBegin           Command = 1       // BEGIN_OPERATION
	CmdUpdate          Command = 2       // UPDATE_OPERATION
	CmdFinish          Command = 3       // FINISH_OPERATION
	CmdAbort           Command = 4       // ABORT_OPERATION
	CmdGetAuthTokenKey Command = 0x10000 // KM_GET_AUTH_TOKEN_KEY (Trusty)
)

// commandNames are the names docs/protocol.md §2.1 gives the commands.
var commandNames = map[Command]string{
	CmdGenerateKey:     "GENERATE_KEY",
	CmdBegin:           "BEGIN",
	CmdUpdate:          "UPDATE",
	CmdFinish:          "FINISH",
	CmdAbort:           "ABORT",
	CmdGetAuthTokenKey: "GET_AUTH_TOKEN_KEY",
}

// String returns the command's name in docs/protocol.md §2.1.
func (c Command) String() string { return tee.CommandName("keymaster", commandNames, c) }

// Parameter layouts of the Keymaster commands (docs/protocol.md §2.1). A
// 64-bit operation handle travels as two VALUE halves (HandleParam).
//
//	GENERATE_KEY        p0 MEMREF_INPUT   key parameters (Params.Marshal)
//	                    p1 MEMREF_OUTPUT  key blob (capacity ≥ BlobSize(len(p0)))
//	                    p2 MEMREF_OUTPUT  public key (capacity ≥ PublicKeySize)
//	BEGIN               p0 MEMREF_INPUT   key blob
//	                    p1 VALUE_INPUT    a = purpose, b = 0
//	                    p2 MEMREF_INPUT   HAT (0 or 69 bytes)
//	                    p3 VALUE_OUTPUT   operation handle
//	UPDATE              p0 VALUE_INPUT    handle
//	                    p1 MEMREF_INPUT   data
//	                    p2 MEMREF_INPUT   HAT (0 or 69 bytes)
//	FINISH              p0 VALUE_INPUT    handle
//	                    p1 MEMREF_INPUT   data
//	                    p2 MEMREF_INPUT   HAT (0 or 69 bytes)
//	                    p3 MEMREF_OUTPUT  signature (capacity ≥ MaxSignatureSize)
//	ABORT               p0 VALUE_INPUT    handle
//	GET_AUTH_TOKEN_KEY  p0 MEMREF_INPUT   recipient UUID (16 bytes)
//	                    p1 MEMREF_OUTPUT  envelope (capacity ≥ AuthTokenKeyEnvelopeSize)
var (
	TypesGenerateKey     = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefOutput}
	TypesBegin           = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesUpdate          = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefInput}
	TypesFinish          = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesAbort           = tee.ParamTypes{tee.ParamValueInput}
	TypesGetAuthTokenKey = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}
)

// OperationSlots is the number of live operations a Keymaster TA holds
// (docs/protocol.md §2.1, "Operation slots"): the size of Trusty
// keymaster's operation table (kOperationTableSize = 16). A BEGIN on a full
// table prunes an operation as that section says.
const OperationSlots = 16

// AuthTokenKeyEnvelopeSize is the size of the GET_AUTH_TOKEN_KEY output:
// an envelope carrying the 32-byte key.
const AuthTokenKeyEnvelopeSize = envelope.Overhead + tokens.KeySize

// HandleParam packs a 64-bit operation handle into a value parameter as
// every fpemu TA carries a u64: a = low 32 bits, b = high 32 bits
// (docs/protocol.md §2.1, protocol revision 2).
func HandleParam(h uint64) (a, b uint32) { return uint32(h), uint32(h >> 32) }

// HandleOf is the inverse of HandleParam.
func HandleOf(p tee.Param) uint64 { return uint64(p.A) | uint64(p.B)<<32 }
