package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/store"
)

// Bench measures Book alone: the orders, challenges and bookings are
// prepared with the timer stopped, then each iteration books one payment
// (one transaction: consume the challenge, CAS the counter, insert the
// ledger row and the request id).
func Bench(b *testing.B, h Harness) {
	s, _ := h.New(b, store.Options{})
	ctx := context.Background()
	d := newDevice(b)
	require.NoError(b, s.RegisterDevice(ctx, d.dev))
	k := d.sceneKey(b, "pay", 1)
	require.NoError(b, s.RegisterKey(ctx, k))
	bookings := make([]store.Booking, b.N)
	for i := range bookings {
		o, _, err := s.CreateOrder(ctx, store.NewOrder{IdempotencyKey: fmt.Sprint(i), Payee: "m", Amount: 1, Currency: "CNY"})
		require.NoError(b, err)
		c, err := s.IssueChallenge(ctx, o.ID, d.dev.ID)
		require.NoError(b, err)
		// The store checks no signature: a random statement hash stands in
		// for SM3 of a signed statement, keeping SM2 out of the numbers.
		bk := store.Booking{RequestID: fmt.Appendf(nil, "r%d", i), Key: k.Ref, Counter: uint64(1000 + i),
			Challenge: c.Value, FingerID: 1, OrderID: o.ID, Amount: 1, Currency: "CNY", Payee: "m"}
		_, _ = rand.Read(bk.StatementHash[:])
		bookings[i] = bk
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Book(ctx, bookings[i]); err != nil {
			b.Fatal(err)
		}
	}
}
