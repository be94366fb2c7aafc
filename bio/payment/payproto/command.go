package payproto

import (
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
)

// Command is a payment TA command identifier (the commandID of
// TEEC_InvokeCommand, GPD_SPE_007 §4.5.9), numbered by fpemu
// (docs/protocol.md §8.4); SET_AUTH_TOKEN_KEY has the number it has on
// the Gatekeeper TA.
type Command uint32

// Payment TA commands, with their analogue in Tencent SOTER's TA
// interface where there is one.
const (
	CmdDeliver         Command = 0x0    // DELIVER (bio TA → payment TA)
	CmdGetDeviceCert   Command = 0x1    // GET_DEVICE_CERT (SOTER: ATTK public key)
	CmdCreateAppKey    Command = 0x2    // CREATE_APP_KEY (SOTER: generateAppSecureKey)
	CmdCreateSceneKey  Command = 0x3    // CREATE_SCENE_KEY (SOTER: generateAuthKey)
	CmdGetCert         Command = 0x4    // GET_CERT (SOTER: getAppSecureKey, getAuthKey)
	CmdSignPayment     Command = 0x5    // SIGN_PAYMENT (SOTER: initSigh + finishSign)
	CmdDeleteKey       Command = 0x6    // DELETE_KEY (SOTER: removeAuthKey)
	CmdBeginPayment    Command = 0x7    // BEGIN_PAYMENT (Keystore begin()'s operation handle)
	CmdSetAuthTokenKey Command = 0x1000 // SET_AUTH_TOKEN_KEY (fpemu)
)

// commandNames are the names docs/protocol.md §8.4 gives the commands.
var commandNames = map[Command]string{
	CmdDeliver:         "DELIVER",
	CmdGetDeviceCert:   "GET_DEVICE_CERT",
	CmdCreateAppKey:    "CREATE_APP_KEY",
	CmdCreateSceneKey:  "CREATE_SCENE_KEY",
	CmdGetCert:         "GET_CERT",
	CmdSignPayment:     "SIGN_PAYMENT",
	CmdDeleteKey:       "DELETE_KEY",
	CmdBeginPayment:    "BEGIN_PAYMENT",
	CmdSetAuthTokenKey: "SET_AUTH_TOKEN_KEY",
}

// String returns the command's name in docs/protocol.md §8.4.
func (c Command) String() string { return tee.CommandName("payment", commandNames, c) }

// Parameter layouts of the payment commands (docs/protocol.md §8.4). u64
// values travel as two VALUE halves, a = low 32 bits, b = high 32 bits.
//
//	DELIVER             p0 MEMREF_INPUT   envelope from the fingerprint TA
//	                    p1 VALUE_OUTPUT   a = message type, b = scene keys invalidated
//	                                      (finger list) or 1 if held (auth result)
//	GET_DEVICE_CERT     p0 MEMREF_OUTPUT  signed device certificate
//	CREATE_APP_KEY      p0 MEMREF_INPUT   KeyRef (scene empty)
//	                    p1 MEMREF_OUTPUT  signed app certificate
//	CREATE_SCENE_KEY    p0 MEMREF_INPUT   KeyRef
//	                    p1 VALUE_INPUT    a = group id
//	                    p2 MEMREF_OUTPUT  signed scene certificate
//	GET_CERT            p0 MEMREF_INPUT   KeyRef (scene empty: the app key)
//	                    p1 MEMREF_OUTPUT  signed certificate
//	SIGN_PAYMENT        p0 MEMREF_INPUT   KeyRef of a scene key
//	                    p1 VALUE_INPUT    a, b = challenge
//	                    p2 MEMREF_INPUT   payload (≤ MaxPayload)
//	                    p3 MEMREF_OUTPUT  signed statement
//	DELETE_KEY          p0 MEMREF_INPUT   KeyRef (scene empty: app key and its scenes)
//	BEGIN_PAYMENT       p0 MEMREF_INPUT   KeyRef of a scene key
//	                    p1 VALUE_OUTPUT   a, b = challenge
//	SET_AUTH_TOKEN_KEY  p0 MEMREF_INPUT   envelope from Keymaster
//
// Every output memref must offer OutputCapacity bytes.
var (
	TypesDeliver         = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesGetDeviceCert   = tee.ParamTypes{tee.ParamMemrefOutput}
	TypesCreateAppKey    = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesCreateSceneKey  = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefOutput}
	TypesGetCert         = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesSignPayment     = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesDeleteKey       = tee.ParamTypes{tee.ParamMemrefInput}
	TypesBeginPayment    = tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesSetAuthTokenKey = tee.ParamTypes{tee.ParamMemrefInput}
)

// OutputCapacity is the capacity every certificate or statement output
// memref must offer (proof.MaxSignedSize); the TA checks it before any
// state changes and answers TEEC_ERROR_SHORT_BUFFER with this size
// (docs/protocol.md §8.4).
const OutputCapacity = proof.MaxSignedSize

// Bounds of the payment TA a client can run into (docs/protocol.md §8.4,
// §8.10).
const (
	// MaxPayload bounds a SIGN_PAYMENT payload (it is hashed, not stored);
	// a longer one is ErrBadRequest.
	MaxPayload = 64 << 10
	// MaxKeysPerIdentity bounds the keys (app and scene together) one
	// client identity may hold; CREATE_APP_KEY and CREATE_SCENE_KEY
	// beyond it fail with ErrQuota (TEEC_ERROR_OUT_OF_MEMORY).
	MaxKeysPerIdentity = 16
	// MaxChallengesPerIdentity bounds the payment challenges (with the
	// auth result delivered for each) one identity may have outstanding:
	// BEGIN_PAYMENT beyond it forgets that identity's oldest challenge.
	MaxChallengesPerIdentity = 4
	// MaxPendingChallenges bounds the outstanding payment challenges of
	// all identities together: BEGIN_PAYMENT beyond it, once expired ones
	// are dropped, fails with ErrChallengesBusy (TEEC_ERROR_BUSY) rather
	// than evict another identity's challenge.
	MaxPendingChallenges = 64
)
