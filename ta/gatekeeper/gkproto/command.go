package gkproto

import (
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// Command is a Gatekeeper TA command identifier (the commandID of
// TEEC_InvokeCommand). The four Gatekeeper operations keep the numbering
// of the OP-TEE Gatekeeper TA (gatekeeper_ipc.h: GK_ENROLL, GK_VERIFY,
// GK_DELETE_USER, GK_DELETE_ALL_USERS); SET_AUTH_TOKEN_KEY is fpemu's, in a
// separate range (docs/protocol.md §3.2).
type Command uint32

// Gatekeeper TA commands.
const (
	CmdEnroll          Command = 0      // GK_ENROLL
	CmdVerify          Command = 1      // GK_VERIFY
	CmdDeleteUser      Command = 2      // GK_DELETE_USER
	CmdDeleteAllUsers  Command = 3      // GK_DELETE_ALL_USERS
	CmdSetAuthTokenKey Command = 0x1000 // SET_AUTH_TOKEN_KEY (fpemu)
)

// commandNames are the names docs/protocol.md §3.2 gives the commands.
var commandNames = map[Command]string{
	CmdEnroll:          "ENROLL",
	CmdVerify:          "VERIFY",
	CmdDeleteUser:      "DELETE_USER",
	CmdDeleteAllUsers:  "DELETE_ALL_USERS",
	CmdSetAuthTokenKey: "SET_AUTH_TOKEN_KEY",
}

// String returns the command's name in docs/protocol.md §3.2.
func (c Command) String() string { return tee.CommandName("gatekeeper", commandNames, c) }

// Parameter layouts of the Gatekeeper commands (docs/protocol.md §3.3–3.6).
// A status travels as the two's-complement uint32 of the int32 Status; u64
// values as two VALUE halves, a = low 32 bits, b = high 32 bits.
//
//	SET_AUTH_TOKEN_KEY  p0 MEMREF_INPUT   envelope from Keymaster
//	ENROLL              p0 VALUE_INOUT    in a=uid; out a=status, b=retry_timeout_ms
//	                    p1 MEMREF_INPUT   EnrollPayload
//	                    p2 MEMREF_OUTPUT  new password handle (capacity ≥ 58)
//	                    p3 VALUE_OUTPUT   a,b = secure user id
//	VERIFY              p0 VALUE_INOUT    in a=uid; out a=status, b=retry_timeout_ms
//	                    p1 VALUE_INOUT    in a,b = challenge; out a=request_reenroll, b=0
//	                    p2 MEMREF_INPUT   VerifyPayload
//	                    p3 MEMREF_OUTPUT  hw_auth_token_t (capacity ≥ 69)
//	DELETE_USER         p0 VALUE_INOUT    in a=uid; out a=status
//	DELETE_ALL_USERS    p0 VALUE_OUTPUT   a=status
var (
	TypesSetAuthTokenKey = tee.ParamTypes{tee.ParamMemrefInput}
	TypesEnroll          = tee.ParamTypes{tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamValueOutput}
	TypesVerify          = tee.ParamTypes{tee.ParamValueInout, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesDeleteUser      = tee.ParamTypes{tee.ParamValueInout}
	TypesDeleteAllUsers  = tee.ParamTypes{tee.ParamValueOutput}
)

// EnrollResponse is the answer to ENROLL (AIDL GatekeeperEnrollResponse).
type EnrollResponse struct {
	Status         Status
	RetryTimeoutMs uint32 // with ERROR_RETRY_TIMEOUT
	SecureUserID   uint64 // with STATUS_OK
	Handle         []byte // with STATUS_OK: the new HandleSize-byte password handle
}

// VerifyResponse is the answer to VERIFY (AIDL GatekeeperVerifyResponse
// plus libgatekeeper's request_reenroll).
type VerifyResponse struct {
	Status          Status
	RetryTimeoutMs  uint32 // with ERROR_RETRY_TIMEOUT
	RequestReenroll bool   // with a success: the handle should be re-enrolled
	Token           tokens.Token
}
