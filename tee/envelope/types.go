package envelope

import (
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// MsgType says what an envelope's payload is. The payload codecs live with
// the TAs that produce and consume them; this package only routes types.
type MsgType uint32

// Envelope message types carried on the manifest routes (tee.Routes).
const (
	// MsgAuthTokenKey carries Keymaster's per-boot auth-token HMAC key to a
	// TA that mints or checks hw_auth_token_t (gatekeeper, fingerprint,
	// payment) — the reply to KM_GET_AUTH_TOKEN_KEY in AOSP's Trusty
	// keymaster (AOSP KeyMint's auth-token key), sealed instead of shared.
	MsgAuthTokenKey MsgType = 1
	// MsgBioAuthResult carries a fingerprint match result to the payment TA
	// — the bio_set_auth_result(result, finger_id, operation_id) hook of
	// the QSEE bio library (Tencent SOTER, IFAA and Qualcomm QSEE's bio API).
	MsgBioAuthResult MsgType = 2
	// MsgFingerList carries the enrolled finger list to the payment TA,
	// sent at start-up and on every enroll, update and remove.
	MsgFingerList MsgType = 3
)

func (t MsgType) String() string {
	switch t {
	case MsgAuthTokenKey:
		return "AUTH_TOKEN_KEY"
	case MsgBioAuthResult:
		return "BIO_AUTH_RESULT"
	case MsgFingerList:
		return "FINGER_LIST"
	}
	return fmt.Sprintf("msg_type(%d)", uint32(t))
}

// TypeAllowed reports whether envelopes of type t may travel on route r:
// r must be a manifest route (tee.RouteAllowed), the auth-token key only
// leaves Keymaster, and bio results and finger lists only go from the
// fingerprint TA to the payment TA.
func TypeAllowed(r tee.Route, t MsgType) bool {
	if !tee.RouteAllowed(r.From, r.To) {
		return false
	}
	switch t {
	case MsgAuthTokenKey:
		return r.From == tee.UUIDKeymaster
	case MsgBioAuthResult, MsgFingerList:
		return r.From == tee.UUIDFingerprint && r.To == tee.UUIDPayment
	}
	return false
}
