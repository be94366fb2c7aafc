package keymaster_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// TestBorrowedParamsNotRetained: Keymaster borrows its memrefs from the
// host's pooled buffers (rpc.ParamBorrower; GPD_SPE_010 §4.9), so a key's
// parameters, a blob, a HAT or signed input it kept past its command would
// be overwritten by the next command's bytes (and by the poison under
// -race). Keys generated and operations begun earlier, with other commands
// and other bytes in between, still sign exactly what was sent.
func TestBorrowedParamsNotRetained(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t)
	require.True(t, d.TA.BorrowsParams())
	var _ rpc.ParamBorrower = d.TA
	inv := d.Serve(t)
	mac, err := keymastertest.AuthTokenMAC(ctx, inv, d.Gatekeeper(t))
	require.NoError(t, err)

	const sidA, sidB = 0xA11CE, 0xB0B
	type op struct {
		curve kmproto.ECCurve
		sid   uint64
		key   *kmproto.GenerateKeyResponse
		h     uint64
		msg   []byte
	}
	ops := []*op{{curve: kmproto.CurveSM2, sid: sidA}, {curve: kmproto.CurveP256, sid: sidB}}
	for _, o := range ops {
		o.key, err = kmproto.GenerateKey{Params: keymastertest.SigningKey(o.curve, tokens.AuthPassword, nil, o.sid)}.Execute(ctx, inv)
		require.NoError(t, err)
	}
	hat := func(o *op) []byte {
		return keymastertest.Mint(mac, keymastertest.HAT{Challenge: o.h, UserID: o.sid, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
	}
	for _, o := range ops {
		o.h, err = kmproto.Begin{Blob: o.key.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
		require.NoError(t, err)
	}
	// Interleaved updates with different bytes of different lengths: each
	// command's memrefs land where the previous one's were.
	for i := range 4 {
		for j, o := range ops {
			part := bytes.Repeat([]byte{byte('a' + 2*i + j)}, 100*(i+1)+j)
			o.msg = append(o.msg, part...)
			require.NoError(t, kmproto.Update{Handle: o.h, Input: part, HAT: hat(o)}.Execute(ctx, inv))
		}
	}
	// A command that fails with other bytes in the same buffers.
	_, err = kmproto.Begin{Blob: bytes.Repeat([]byte{0xEE}, len(ops[0].key.Blob)), Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrInvalidKeyBlob)
	for _, o := range ops {
		sig, err := kmproto.Finish{Handle: o.h, Input: []byte("end"), HAT: hat(o)}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NoError(t, kmproto.VerifySignature(o.curve, o.key.PublicKey, append(o.msg, "end"...), sig))
	}
	// The key cache kept the parameters GENERATE_KEY was sent: the SIDs
	// still bind, so a HAT of the other user is refused.
	h, err := kmproto.Begin{Blob: ops[0].key.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.NoError(t, err)
	wrong := keymastertest.Mint(mac, keymastertest.HAT{Challenge: h, UserID: sidB, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
	_, err = kmproto.Finish{Handle: h, Input: []byte("x"), HAT: wrong}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)
	assert.Zero(t, d.TA.Operations())
}
