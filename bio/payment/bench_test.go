package payment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/proof"
)

// BenchmarkDeliverAuthResult: DELIVER of one auth result envelope (parse,
// SM4-GCM open, replay check, mark committed in a store transaction).
func BenchmarkDeliverAuthResult(b *testing.B) {
	d, ta := registeredTA(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		env := d.match(b, 0, 0xA1, 1, uint64(i+1))
		b.StartTimer()
		if _, err := ta.Deliver(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignPayment: SIGN_PAYMENT once an auth result is held for its
// challenge (key
// load and unseal, counter transaction, SM3, SM2 signature).
func BenchmarkSignPayment(b *testing.B) {
	d, ta := registeredTA(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		op, err := ta.BeginPayment(ctx, ownerA, sceneRef)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ta.Deliver(ctx, d.match(b, 0, 0xA1, 1, op)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := ta.SignPayment(ctx, ownerA, sceneRef, op, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorisedPayment: the payment TA's whole share of one
// fingerprint payment — BEGIN_PAYMENT, seal by the bio hook, DELIVER,
// SIGN_PAYMENT —
// and the server's offline check (proof.VerifyPayment).
func BenchmarkAuthorisedPayment(b *testing.B) {
	d, ta := registeredTA(b)
	ctx := context.Background()
	cert, err := ta.Cert(ctx, ownerA, sceneRef)
	require.NoError(b, err)
	scene, err := certBody(cert)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		op, err := ta.BeginPayment(ctx, ownerA, sceneRef)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.fp.SetAuthResult(bio.ResultSuccess, 1, op, bio.Match{AuthenticatorID: 0xA1}); err != nil {
			b.Fatal(err)
		}
		if _, err := ta.Deliver(ctx, d.fp.Drain(0)[0]); err != nil {
			b.Fatal(err)
		}
		signed, err := ta.SignPayment(ctx, ownerA, sceneRef, op, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proof.VerifyPayment(signed, scene, op, payload); err != nil {
			b.Fatal(err)
		}
	}
}
