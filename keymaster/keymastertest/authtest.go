package keymastertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tokens"
)

// RunAuthTests runs the ports of KeyMint VTS AuthTest against env, each as
// a subtest. The VTS tests use AES keys and a real gatekeeper; here the
// keys are auth-bound SM2 and ECDSA P-256 signing keys, HATs are minted
// with the auth-token key obtained as the gatekeeper obtains it, and
// signatures are verified offline with the returned public key.
func RunAuthTests(t *testing.T, env Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mac, err := AuthTokenMACFor(ctx, env.Invoker, env.Gatekeeper, env.MAC)
	require.NoError(t, err)
	a := &authTest{env: env, mac: mac, ctx: ctx}
	for _, curve := range []kmproto.ECCurve{kmproto.CurveSM2, kmproto.CurveP256} {
		name := "SM2"
		if curve == kmproto.CurveP256 {
			name = "P256"
		}
		t.Run(name+"/TimeoutAuthentication", func(t *testing.T) { a.timeoutAuthentication(t, curve) })
		t.Run(name+"/TimeoutAuthenticationMultiSid", func(t *testing.T) { a.timeoutAuthenticationMultiSid(t, curve) })
		t.Run(name+"/AuthPerOperation", func(t *testing.T) { a.authPerOperation(t, curve) })
		t.Run(name+"/AuthPerOperationMultiSid", func(t *testing.T) { a.authPerOperationMultiSid(t, curve) })
		t.Run(name+"/AuthPerOperationWrongAuthType", func(t *testing.T) { a.authPerOperationWrongAuthType(t, curve) })
	}
}

type authTest struct {
	env Env
	mac *tokens.MAC
	ctx context.Context
}

var message = []byte("the quick brown fox jumps over the lazy dog")

func (a *authTest) generate(t *testing.T, ps kmproto.Params) *kmproto.GenerateKeyResponse {
	t.Helper()
	k, err := kmproto.GenerateKey{Params: ps}.Execute(a.ctx, a.env.Invoker)
	require.NoError(t, err)
	require.Len(t, k.PublicKey, kmproto.PublicKeySize)
	return k
}

func (a *authTest) password(challenge, sid uint64) []byte {
	return Mint(a.mac, HAT{Challenge: challenge, UserID: sid, Type: tokens.AuthPassword, TimestampMs: a.env.NowMs()})
}

func (a *authTest) begin(blob, hat []byte) (uint64, error) {
	return kmproto.Begin{Blob: blob, Purpose: kmproto.PurposeSign, HAT: hat}.Execute(a.ctx, a.env.Invoker)
}

func (a *authTest) finish(h uint64, hat []byte) ([]byte, error) {
	return kmproto.Finish{Handle: h, Input: message, HAT: hat}.Execute(a.ctx, a.env.Invoker)
}

// sign runs begin(beginHAT) + finish(finishHAT) and verifies the signature.
func (a *authTest) sign(t *testing.T, curve kmproto.ECCurve, k *kmproto.GenerateKeyResponse, beginHAT []byte, finishHAT func(handle uint64) []byte) {
	t.Helper()
	h, err := a.begin(k.Blob, beginHAT)
	require.NoError(t, err)
	var fh []byte
	if finishHAT != nil {
		fh = finishHAT(h)
	}
	sig, err := a.finish(h, fh)
	require.NoError(t, err)
	require.NoError(t, kmproto.VerifySignature(curve, k.PublicKey, message, sig))
}

// timeoutAuthentication: VTS AuthTest.TimeoutAuthentication. A key with
// USER_SECURE_ID = sid, USER_AUTH_TYPE = PASSWORD, AUTH_TIMEOUT = 3:
// begin without a HAT fails; with a fresh HAT it signs; a HAT with one MAC
// bit flipped fails; after the timeout (4 s) the old HAT fails.
func (a *authTest) timeoutAuthentication(t *testing.T, curve kmproto.ECCurve) {
	sid := RandomSID(t)
	k := a.generate(t, SigningKey(curve, tokens.AuthPassword, Seconds(3), sid))

	_, err := a.begin(k.Blob, nil)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "begin without HAT")

	hat := a.password(42, sid)
	a.sign(t, curve, k, hat, nil)

	_, err = a.begin(k.Blob, FlipMACBit(hat))
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "begin with corrupted HAT MAC")

	stale := hat
	if a.env.Advance != nil {
		a.env.Advance(4 * time.Second)
	} else {
		stale = Mint(a.mac, HAT{Challenge: 42, UserID: sid, Type: tokens.AuthPassword, TimestampMs: a.env.NowMs() - 4000})
	}
	_, err = a.begin(k.Blob, stale)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "begin with a HAT older than AUTH_TIMEOUT")

	// A fresh HAT works again.
	a.sign(t, curve, k, a.password(43, sid), nil)
}

// timeoutAuthenticationMultiSid: VTS AuthTest.TimeoutAuthenticationMultiSid.
// Two users' SIDs, USER_AUTH_TYPE = ANY, AUTH_TIMEOUT = 3: a HAT from either
// user signs; a third user's does not.
func (a *authTest) timeoutAuthenticationMultiSid(t *testing.T, curve kmproto.ECCurve) {
	sid1, sid2 := RandomSID(t), RandomSID(t)
	k := a.generate(t, SigningKey(curve, tokens.AuthAny, Seconds(3), sid1, sid2))
	a.sign(t, curve, k, a.password(42, sid1), nil)
	a.sign(t, curve, k, a.password(42, sid2), nil)
	_, err := a.begin(k.Blob, a.password(42, RandomSID(t)))
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "HAT of an unrelated user")
}

// authPerOperation: VTS AuthTest.AuthPerOperation. USER_SECURE_ID +
// PASSWORD, no timeout: begin without HAT succeeds but finish without HAT
// fails; a HAT with an unrelated challenge is accepted at begin and
// refused at finish; a HAT whose challenge is the operation's signs; the
// same with a MAC bit flipped fails. Every failure destroys the operation.
func (a *authTest) authPerOperation(t *testing.T, curve kmproto.ECCurve) {
	sid := RandomSID(t)
	k := a.generate(t, SigningKey(curve, tokens.AuthPassword, nil, sid))

	h, err := a.begin(k.Blob, nil)
	require.NoError(t, err, "begin of a per-op key needs no HAT")
	require.NotZero(t, h)
	_, err = a.finish(h, nil)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "finish without HAT")
	_, err = a.finish(h, a.password(h, sid))
	require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle, "the failure destroyed the operation")

	unrelated := a.password(42, sid)
	h, err = a.begin(k.Blob, unrelated)
	require.NoError(t, err, "begin ignores the HAT of a per-op key")
	_, err = a.finish(h, unrelated)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "finish with a HAT for another challenge")

	a.sign(t, curve, k, nil, func(h uint64) []byte { return a.password(h, sid) })

	h, err = a.begin(k.Blob, nil)
	require.NoError(t, err)
	_, err = a.finish(h, FlipMACBit(a.password(h, sid)))
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "finish with corrupted HAT MAC")

	// Update is checked the same way as finish.
	h, err = a.begin(k.Blob, nil)
	require.NoError(t, err)
	err = kmproto.Update{Handle: h, Input: message[:5], HAT: a.password(h+1, sid)}.Execute(a.ctx, a.env.Invoker)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "update with a HAT for another challenge")
	err = kmproto.Abort{Handle: h}.Execute(a.ctx, a.env.Invoker)
	require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle, "the failed update destroyed the operation")

	h, err = a.begin(k.Blob, nil)
	require.NoError(t, err)
	require.NoError(t, kmproto.Update{Handle: h, Input: message[:5], HAT: a.password(h, sid)}.Execute(a.ctx, a.env.Invoker))
	sig, err := kmproto.Finish{Handle: h, Input: message[5:], HAT: a.password(h, sid)}.Execute(a.ctx, a.env.Invoker)
	require.NoError(t, err)
	require.NoError(t, kmproto.VerifySignature(curve, k.PublicKey, message, sig), "update+finish sign the concatenation")
}

// authPerOperationMultiSid: VTS AuthTest.AuthPerOperationMultiSid. Two
// SIDs, ANY: per-operation HATs of either user sign.
func (a *authTest) authPerOperationMultiSid(t *testing.T, curve kmproto.ECCurve) {
	sid1, sid2 := RandomSID(t), RandomSID(t)
	k := a.generate(t, SigningKey(curve, tokens.AuthAny, nil, sid1, sid2))
	a.sign(t, curve, k, nil, func(h uint64) []byte { return a.password(h, sid1) })
	a.sign(t, curve, k, nil, func(h uint64) []byte { return a.password(h, sid2) })
	h, err := a.begin(k.Blob, nil)
	require.NoError(t, err)
	_, err = a.finish(h, a.password(h, RandomSID(t)))
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "HAT of an unrelated user")
}

// authPerOperationWrongAuthType: VTS AuthTest.AuthPerOperationWrongAuthType.
// A FINGERPRINT key refuses a PASSWORD HAT with the right challenge.
func (a *authTest) authPerOperationWrongAuthType(t *testing.T, curve kmproto.ECCurve) {
	sid := RandomSID(t)
	k := a.generate(t, SigningKey(curve, tokens.AuthFingerprint, nil, sid))
	h, err := a.begin(k.Blob, nil)
	require.NoError(t, err)
	_, err = a.finish(h, a.password(h, sid))
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)
}
