package payment

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tokens"
)

// TestPasswordFactor: a payment signed with Gatekeeper's PASSWORD HAT for
// its challenge carries proof.FlagPassword (statement version 2) and
// still verifies under the scene certificate; every HAT that fails a
// check of checkPasswordHAT is ErrNotAuthorized and leaves the challenge
// and its auth result usable (the same challenge then signs).
func TestPasswordFactor(t *testing.T) {
	d, ta := registeredTA(t)
	ctx := context.Background()
	cert, err := ta.Cert(ctx, ownerA, sceneRef)
	require.NoError(t, err)
	scene, err := proof.ParseSigned(cert)
	require.NoError(t, err)
	sc, err := proof.ParseCert(scene.Body)
	require.NoError(t, err)

	begin := func() uint64 {
		op, err := ta.BeginPayment(ctx, ownerA, sceneRef)
		require.NoError(t, err)
		_, err = ta.Deliver(ctx, d.match(t, 0, 0xA1, 1, op))
		require.NoError(t, err)
		return op
	}
	// No auth-token key yet: fail closed.
	op := begin()
	_, err = ta.SignPaymentWithPassword(ctx, ownerA, sceneRef, op, payload, make([]byte, tokens.Size))
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)

	key := randBytes(t, tokens.KeySize)
	require.NoError(t, ta.InstallAuthTokenKey(key))
	mac, err := tokens.NewMAC(tokens.HMACSHA256, key)
	require.NoError(t, err)
	other, err := tokens.NewMAC(tokens.HMACSHA256, randBytes(t, tokens.KeySize))
	require.NoError(t, err)
	hat := func(m *tokens.MAC, challenge uint64, typ tokens.AuthenticatorType, ts uint64) []byte {
		tok := tokens.Token{Challenge: challenge, UserID: 0x5ec0de, AuthenticatorID: 9, AuthenticatorType: typ, Timestamp: ts}
		m.Sign(&tok)
		return tok.Marshal()
	}
	now := d.Clock.NowMs()
	stale := now - uint64((DefaultAuthResultTTL + time.Second).Milliseconds())
	for _, tc := range []struct {
		name string
		hat  func(op uint64) []byte
	}{
		{"another key", func(op uint64) []byte { return hat(other, op, tokens.AuthPassword, now) }},
		{"another challenge", func(op uint64) []byte { return hat(mac, op+1, tokens.AuthPassword, now) }},
		{"fingerprint, not password", func(op uint64) []byte { return hat(mac, op, tokens.AuthFingerprint, now) }},
		{"stale", func(op uint64) []byte { return hat(mac, op, tokens.AuthPassword, stale) }},
		{"short", func(op uint64) []byte { return hat(mac, op, tokens.AuthPassword, now)[:68] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ta.SignPaymentWithPassword(ctx, ownerA, sceneRef, op, payload, tc.hat(op))
			require.ErrorIs(t, err, payproto.ErrNotAuthorized)
		})
	}
	// The refusals consumed nothing: the same challenge signs, with the flag.
	signed, err := ta.SignPaymentWithPassword(ctx, ownerA, sceneRef, op, payload, hat(mac, op, tokens.AuthPassword, now))
	require.NoError(t, err)
	st, err := proof.VerifyPayment(signed, sc, op, payload)
	require.NoError(t, err)
	assert.True(t, st.Flags.Has(proof.FlagPassword))
	s, err := proof.ParseSigned(signed)
	require.NoError(t, err)
	assert.Equal(t, proof.StatementVersion2, s.Body[0])

	// Without a HAT: version 1, no flag.
	op = begin()
	signed, err = ta.SignPayment(ctx, ownerA, sceneRef, op, payload)
	require.NoError(t, err)
	st, err = proof.VerifyPayment(signed, sc, op, payload)
	require.NoError(t, err)
	assert.Zero(t, st.Flags)
}

// TestParseSealPaymentInput: CHANNEL_SEAL_PAYMENT's p2 by p0.b.
func TestParseSealPaymentInput(t *testing.T) {
	ref, err := sceneRef.Marshal()
	require.NoError(t, err)
	tok := make([]byte, tokens.Size)
	tok[1] = 7
	in := append(append(append([]byte(nil), ref...), tok...), payload...)
	r, h, p, err := payproto.ParseSealPaymentInput(payproto.SealPaymentWithPassword, in)
	require.NoError(t, err)
	assert.Equal(t, sceneRef, r)
	assert.Equal(t, tok, h)
	assert.Equal(t, payload, p)
	r, h, p, err = payproto.ParseSealPaymentInput(0, in)
	require.NoError(t, err)
	assert.Equal(t, sceneRef, r)
	assert.Nil(t, h)
	assert.Equal(t, in[len(ref):], p)
	_, _, _, err = payproto.ParseSealPaymentInput(2, in)
	require.ErrorIs(t, err, payproto.ErrBadRequest)
	_, _, _, err = payproto.ParseSealPaymentInput(payproto.SealPaymentWithPassword, append(ref, tok[:10]...))
	require.ErrorIs(t, err, payproto.ErrBadRequest)
}
