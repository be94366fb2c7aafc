package device

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// BenchmarkBootShutdown measures a whole device life: fused key, two TA
// processes started and ready, the auth-token key relay, then a clean
// shutdown of both.
func BenchmarkBootShutdown(b *testing.B) {
	dir := testkit.ShortDir(b)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d, err := Boot(ctx, Config{Dir: dir, Command: taCommand(dir), Log: zap.NewNop()})
		require.NoError(b, err)
		require.NoError(b, d.Shutdown(ctx))
		cancel()
	}
}

// BenchmarkPasswordToSignature measures the cross-process path a payment
// takes with a per-operation key: Keymaster BEGIN, Gatekeeper VERIFY with
// the operation handle as challenge (a PASSWORD HAT), Keymaster FINISH with
// that HAT — three CA→TA round trips to two TA processes.
func BenchmarkPasswordToSignature(b *testing.B) {
	dir := testkit.ShortDir(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := Boot(ctx, Config{Dir: dir, Command: taCommand(dir), Log: zap.NewNop()})
	require.NoError(b, err)
	defer func() { _ = d.Shutdown(ctx) }()
	gk, err := d.OpenSession(ctx, tee.RoleGatekeeper)
	require.NoError(b, err)
	defer gk.Close()
	km, err := d.OpenSession(ctx, tee.RoleKeymaster)
	require.NoError(b, err)
	defer km.Close()

	pw := []byte("benchmark password")
	enr, err := gkproto.Enroll{UID: 1, DesiredPassword: pw}.Execute(ctx, gk)
	require.NoError(b, err)
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveSM2, tokens.AuthPassword, nil, enr.SecureUserID)}.Execute(ctx, km)
	require.NoError(b, err)
	msg := []byte("pay 1.00")

	b.ReportAllocs()
	for b.Loop() {
		h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
		require.NoError(b, err)
		v, err := gkproto.Verify{UID: 1, Challenge: h, Handle: enr.Handle, Password: pw}.Execute(ctx, gk)
		require.NoError(b, err)
		require.Equal(b, gkproto.StatusOK, v.Status)
		_, err = kmproto.Finish{Handle: h, Input: msg, HAT: v.Token.Marshal()}.Execute(ctx, km)
		require.NoError(b, err)
	}
}
