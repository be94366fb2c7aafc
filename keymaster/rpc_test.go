package keymaster_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// TestShortBufferOverRPC: the short-buffer answer crosses the real host and
// client with the needed size, and the operation survives it.
func TestShortBufferOverRPC(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t)
	inv := d.Serve(t)
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveSM2, tokens.AuthAny, nil)}.Execute(ctx, inv)
	require.NoError(t, err)
	// A key with USER_AUTH_TYPE but no USER_SECURE_ID fails closed.
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)

	ps := kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveSM2),
		kmproto.PurposeParam(kmproto.PurposeSign), kmproto.DigestParam(kmproto.DigestSM3),
		kmproto.NoAuthRequiredParam(),
	}
	k, err = kmproto.GenerateKey{Params: ps}.Execute(ctx, inv)
	require.NoError(t, err)
	h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.NoError(t, err)

	p := tee.Params{tee.Value(uint32(h), uint32(h>>32)), tee.MemrefIn([]byte("msg")), tee.MemrefIn(nil), tee.MemrefOut(16)}
	require.ErrorIs(t, inv.Invoke(ctx, uint32(kmproto.CmdFinish), &p), tee.ErrShortBuffer)
	assert.EqualValues(t, kmproto.MaxSignatureSize, p[3].Size)

	p[3] = tee.MemrefOut(p[3].Size)
	require.NoError(t, inv.Invoke(ctx, uint32(kmproto.CmdFinish), &p))
	require.NoError(t, kmproto.VerifySignature(kmproto.CurveSM2, k.PublicKey, []byte("msg"), p[3].Data))

	// Errors keep their layers over the wire.
	_, err = kmproto.GetAuthTokenKey{Recipient: tee.UUIDKeymaster}.Execute(ctx, inv)
	require.ErrorIs(t, err, tee.ErrAccessDenied)
	_, err = kmproto.Finish{Handle: h}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle)
	assert.Equal(t, tee.Result(0x4B4D001C), tee.ResultOf(err))
}

// TestConcurrentSessions signs from many sessions at once (run with -race).
func TestConcurrentSessions(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t)
	first := d.Direct(t)
	mac, err := keymastertest.AuthTokenMAC(ctx, first, d.Gatekeeper(t))
	require.NoError(t, err)
	const sid = 99
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveP256, tokens.AuthPassword, nil, sid)}.Execute(ctx, first)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		inv := d.Direct(t)
		if i%2 == 1 {
			inv = d.Serve(t)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
				if err != nil {
					errs <- err
					return
				}
				hat := keymastertest.Mint(mac, keymastertest.HAT{Challenge: h, UserID: sid, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
				sig, err := kmproto.Finish{Handle: h, Input: []byte("m"), HAT: hat}.Execute(ctx, inv)
				if err == nil {
					err = kmproto.VerifySignature(kmproto.CurveP256, k.PublicKey, []byte("m"), sig)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Zero(t, d.TA.Operations())
}
