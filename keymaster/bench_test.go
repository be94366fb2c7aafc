package keymaster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

var benchMsg = []byte("pay 42.00 CNY to merchant 1234567890, order 2026-11-22-0001")

// BenchmarkBareSM2Sign is the baseline: one SM2 signature with the default
// uid (Z_A + SM3 + sign), no TA.
func BenchmarkBareSM2Sign(b *testing.B) {
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(rand.Reader, benchMsg, sm2.DefaultSM2SignerOpts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareP256Sign is the ECDSA P-256/SHA-256 baseline.
func BenchmarkBareP256Sign(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		d := sha256.Sum256(benchMsg)
		if _, err := ecdsa.SignASN1(rand.Reader, k, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerOpSign is a Keymaster per-operation signature: BEGIN (no
// HAT), minting a PASSWORD HAT for the returned challenge (what Gatekeeper
// does), FINISH with it — against the TA called in process and through
// tee/rpc over a Unix socket in the same process.
func BenchmarkPerOpSign(b *testing.B) {
	for _, curve := range []struct {
		name string
		c    kmproto.ECCurve
	}{{"SM2", kmproto.CurveSM2}, {"P256", kmproto.CurveP256}} {
		for _, tr := range []string{"direct", "rpc"} {
			b.Run(curve.name+"/"+tr, func(b *testing.B) {
				d := newDevice(b)
				var inv rpc.Invoker
				if tr == "direct" {
					inv = d.Direct(b)
				} else {
					inv = d.Serve(b)
				}
				perOpSignLoop(b, d, inv, curve.c)
			})
		}
	}
}

// perOpSignLoop times one per-operation signature a b.Loop iteration over
// inv: BEGIN with a signing key of curve c bound to a PASSWORD
// authenticator, a HAT minted for the returned challenge with the auth-token
// key d's Gatekeeper holds, FINISH with it.
func perOpSignLoop(b *testing.B, d *device, inv rpc.Invoker, c kmproto.ECCurve) {
	ctx := context.Background()
	mac, err := keymastertest.AuthTokenMAC(ctx, inv, d.Gatekeeper(b))
	require.NoError(b, err)
	const sid = 0x5151
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(c, tokens.AuthPassword, nil, sid)}.Execute(ctx, inv)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
		if err != nil {
			b.Fatal(err)
		}
		hat := keymastertest.Mint(mac, keymastertest.HAT{Challenge: h, UserID: sid, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
		if _, err := (kmproto.Finish{Handle: h, Input: benchMsg, HAT: hat}).Execute(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}
