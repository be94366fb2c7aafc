package demo

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tokens"
)

// TestKeystorePathAcrossProcesses is the Android Keystore path of issue 5
// across real processes (Keymaster, Gatekeeper, fingerprint TA, HAL): a
// Keymaster per-operation SM2 key with USER_SECURE_ID = the fingerprint
// authenticator id and USER_AUTH_TYPE = FINGERPRINT; BEGIN gives the op
// handle; authenticate through the HAL with operation_id = that handle;
// FINISH with the returned HAT signs, and the signature verifies. FINISH
// with a HAT from a different operation, or with a PASSWORD HAT, fails with
// KEY_USER_NOT_AUTHENTICATED, and so does a fresh fingerprint HAT once a
// new finger changed the authenticator id the key is bound to.
func TestKeystorePathAcrossProcesses(t *testing.T) {
	r, ctx := setupThrough(t, "enroll finger 2")
	msg := []byte("keystore: pay 12.34 CNY")
	gen := func(sids ...uint64) *kmproto.GenerateKeyResponse {
		k, err := kmproto.GenerateKey{Params: keystoreKeyParams(sids...)}.Execute(ctx, r.km)
		require.NoError(t, err)
		return k
	}
	key := gen(r.authID)
	// The same key bound to the PIN's SID too: only the authenticator type
	// tells a PASSWORD HAT apart.
	keyBoth := gen(r.authID, r.sid)

	ks, err := r.keystoreSign(ctx, key, r.fingers[0], 11, msg)
	require.NoError(t, err, "FINISH with the HAT of authenticate(op handle)")
	tok, err := checkHAT(ks.auth.Event.HAT, ks.op, r.sid, r.authID)
	require.NoError(t, err)
	assert.Equal(t, tokens.AuthFingerprint, tok.AuthenticatorType)
	require.NoError(t, kmproto.VerifySignature(kmproto.CurveSM2, key.PublicKey, msg, ks.signature))

	_, err = r.keystoreSign(ctx, keyBoth, r.fingers[1], 12, msg)
	require.NoError(t, err, "the two-SID key finishes with a fingerprint HAT")

	// A HAT of a different operation: authenticate with another operation
	// id (a payment challenge).
	other, err := r.authenticate(ctx, newChallenge(), r.fingers[0], 13)
	require.NoError(t, err)
	password := func(op uint64) ([]byte, error) {
		tok, err := r.gatekeeperHAT(ctx, op)
		return tok.Marshal(), err
	}

	tests := []struct {
		name   string
		key    *kmproto.GenerateKeyResponse
		hat    []byte
		hatFor func(op uint64) ([]byte, error)
	}{
		{"HAT of the previous operation", key, ks.auth.Event.HAT, nil},
		{"HAT of authenticate(another operation id)", key, other.Event.HAT, nil},
		{"no HAT", key, nil, nil},
		{"PASSWORD HAT for this op handle", key, nil, password},
		{"PASSWORD HAT for this op handle, key bound to the PIN's SID too", keyBoth, nil, password},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, r.finishRefused(ctx, tc.key, tc.hat, tc.hatFor))
		})
	}

	// A new finger changes the authenticator id: the key bound to the old
	// one is never unlocked again (invalidatedByBiometricEnrollment).
	require.NoError(t, enrollNewFinger(r, ctx, &record{}))
	require.NoError(t, r.finishRefused(ctx, key, nil, func(op uint64) ([]byte, error) {
		a, err := r.authenticate(ctx, op, r.fingers[0], 14)
		return a.Event.HAT, err
	}), "fresh fingerprint HAT for the op, authenticator id changed")
	require.NoError(t, r.sensorIdle(context.Background()))
}
