package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
)

// Harness is what a backend gives the suite.
type Harness struct {
	// New returns an empty store of its own (its own file, database or
	// schema) with opts, closed when the test ends, and a target naming it
	// for Reopen.
	New func(tb testing.TB, opts store.Options) (s store.Store, target string)
	// Reopen opens the store target names again, as another server
	// process would. Nil when the backend has no shared storage.
	Reopen func(ctx context.Context, target string, opts store.Options) (store.Store, error)
}

// world is one store with a registered device, scene key and open order.
type world struct {
	s     store.Store
	clk   *Clock
	d     *device
	key   store.Key
	order store.Order
}

func setup(t *testing.T, h Harness, opts store.Options) *world {
	t.Helper()
	clk := NewClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	s, _ := h.New(t, opts)
	w := &world{s: s, clk: clk, d: newDevice(t)}
	ctx := context.Background()
	require.NoError(t, s.RegisterDevice(ctx, w.d.dev))
	w.key = w.d.sceneKey(t, "pay", 1, 2, 5)
	require.NoError(t, s.RegisterKey(ctx, w.key))
	w.order = w.newOrder(t, "order-1", 1999)
	return w
}

func (w *world) newOrder(t *testing.T, idem string, amount int64) store.Order {
	t.Helper()
	o, created, err := w.s.CreateOrder(context.Background(), store.NewOrder{
		IdempotencyKey: idem, Payee: "merchant-42", Amount: amount, Currency: "CNY", Summary: "coffee"})
	require.NoError(t, err)
	require.True(t, created)
	return o
}

func (w *world) challenge(t *testing.T, o store.Order) store.Challenge {
	t.Helper()
	c, err := w.s.IssueChallenge(context.Background(), o.ID, w.d.dev.ID)
	require.NoError(t, err)
	return c
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, h) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, h) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, h) })
	t.Run("Orders", func(t *testing.T) { testOrders(t, h) })
	t.Run("Challenges", func(t *testing.T) { testChallenges(t, h) })
	t.Run("BookRules", func(t *testing.T) { testBookRules(t, h) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, h) })
	t.Run("CounterCAS", func(t *testing.T) { testCounterCAS(t, h) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, h) })
	t.Run("Ledger", func(t *testing.T) { testLedger(t, h) })
	t.Run("RaceGoroutines", func(t *testing.T) { testRaceGoroutines(t, h) })
	t.Run("RaceProcesses", func(t *testing.T) { testRaceProcesses(t, h) })
	t.Run("Options", func(t *testing.T) { testOptions(t, h) })
	t.Run("OTPSeeds", func(t *testing.T) { testOTPSeeds(t, h) })
	t.Run("OTPRace", func(t *testing.T) { testOTPRace(t, h) })
	t.Run("Tiers", func(t *testing.T) { testTiers(t, h) })
	t.Run("ShieldLogins", func(t *testing.T) { testShieldLogins(t, h) })
	t.Run("ShieldCards", func(t *testing.T) { testShieldCards(t, h) })
	t.Run("ShieldPreSubmits", func(t *testing.T) { testShieldPreSubmits(t, h) })
	t.Run("ShieldRace", func(t *testing.T) { testShieldRace(t, h) })
}

func testMigrations(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("backend has no shared storage to reopen")
	}
	_, target := h.New(t, store.Options{})
	ctx := context.Background()
	// Opening a migrated database again applies nothing and keeps data.
	s1, err := h.Reopen(ctx, target, store.Options{})
	require.NoError(t, err)
	d := newDevice(t)
	require.NoError(t, s1.RegisterDevice(ctx, d.dev))
	// migration 4's tables are there and keep their rows too
	require.NoError(t, shieldStore(t, s1).PutShieldCard(ctx, d.dev.ID, []byte("card")))
	require.NoError(t, s1.Close())
	s2, err := h.Reopen(ctx, target, store.Options{})
	require.NoError(t, err)
	defer s2.Close()
	got, err := s2.Device(ctx, d.dev.ID)
	require.NoError(t, err)
	assert.Equal(t, d.dev.PublicKey, got.PublicKey)
	crd, err := shieldStore(t, s2).ShieldCard(ctx, d.dev.ID)
	require.NoError(t, err)
	assert.Equal(t, []byte("card"), crd.Cert)
	require.NoError(t, s2.Close())
	_, err = s2.Device(ctx, d.dev.ID)
	require.ErrorIs(t, err, store.ErrClosed)
}

func testDevices(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	require.NoError(t, w.s.RegisterDevice(ctx, w.d.dev), "same key again is a no-op")
	other := newDevice(t)
	conflict := other.dev
	conflict.ID = w.d.dev.ID
	require.ErrorIs(t, w.s.RegisterDevice(ctx, conflict), store.ErrInvalid, "id not derived from the key")
	bad := other.dev
	bad.Cert = nil
	require.ErrorIs(t, w.s.RegisterDevice(ctx, bad), store.ErrInvalid)
	_, err := w.s.Device(ctx, other.dev.ID)
	require.ErrorIs(t, err, store.ErrDeviceUnknown)
	require.ErrorIs(t, w.s.RevokeDevice(ctx, other.dev.ID), store.ErrDeviceUnknown)
	_, err = w.s.IssueChallenge(ctx, w.order.ID, other.dev.ID)
	require.ErrorIs(t, err, store.ErrDeviceUnknown)

	c := w.challenge(t, w.order)
	b := w.d.pay(t, w.key, c, 100, 1, "r1")
	require.NoError(t, w.s.RevokeDevice(ctx, w.d.dev.ID))
	got, err := w.s.Device(ctx, w.d.dev.ID)
	require.NoError(t, err)
	assert.True(t, got.Revoked)
	require.ErrorIs(t, w.s.RegisterDevice(ctx, w.d.dev), store.ErrDeviceRevoked, "revocation sticks")
	require.ErrorIs(t, w.s.RegisterKey(ctx, w.d.sceneKey(t, "other", 1)), store.ErrDeviceRevoked)
	_, err = w.s.IssueChallenge(ctx, w.order.ID, w.d.dev.ID)
	require.ErrorIs(t, err, store.ErrDeviceRevoked)
	_, err = w.s.Book(ctx, b)
	require.ErrorIs(t, err, store.ErrDeviceRevoked)
}

func testKeys(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	got, err := w.s.Key(ctx, w.key.Ref)
	require.NoError(t, err)
	assert.Equal(t, w.key.FingerIDs, got.FingerIDs)
	assert.Equal(t, w.key.FingerBinding, got.FingerBinding)
	assert.Equal(t, w.key.SceneCert, got.SceneCert)
	assert.Equal(t, w.key.Serial, got.Counter, "a new key's counter starts at its serial")

	for name, mut := range map[string]func(k *store.Key){
		"binding of other fingers": func(k *store.Key) { k.FingerIDs = []uint32{1, 2} },
		"fingers not increasing":   func(k *store.Key) { k.FingerIDs = []uint32{2, 1, 5} },
		"no fingers":               func(k *store.Key) { k.FingerIDs = nil },
		"empty scene":              func(k *store.Key) { k.Ref.Scene = "" },
		"long app id":              func(k *store.Key) { k.Ref.App = strings.Repeat("a", proof.MaxAppIDLen+1) },
		"no scene certificate":     func(k *store.Key) { k.SceneCert = nil },
		"compressed point":         func(k *store.Key) { k.PublicKey[0] = 0x02 },
	} {
		k := w.key
		k.Serial++
		mut(&k)
		require.ErrorIs(t, w.s.RegisterKey(ctx, k), store.ErrInvalid, name)
	}
	_, err = w.s.Key(ctx, store.KeyRef{Device: w.d.dev.ID, App: "com.example.pay", Scene: "nope"})
	require.ErrorIs(t, err, store.ErrKeyUnknown)

	// Book once at counter 500, then replace the key: the replacement
	// keeps the high-water mark, an older registration is stale.
	c := w.challenge(t, w.order)
	_, err = w.s.Book(ctx, w.d.pay(t, w.key, c, 500, 2, "r1"))
	require.NoError(t, err)
	require.ErrorIs(t, w.s.RegisterKey(ctx, w.key), store.ErrKeyStale)
	k2 := w.d.sceneKey(t, "pay", 1, 3)
	require.NoError(t, w.s.RegisterKey(ctx, k2))
	got, err = w.s.Key(ctx, k2.Ref)
	require.NoError(t, err)
	assert.Equal(t, uint64(500), got.Counter)
	assert.Equal(t, k2.PublicKey, got.PublicKey)
	o2 := w.newOrder(t, "order-2", 10)
	c2 := w.challenge(t, o2)
	_, err = w.s.Book(ctx, w.d.pay(t, k2, c2, 499, 1, "r2"))
	require.ErrorIs(t, err, store.ErrCounter, "old counters stay dead after re-registration")
	_, err = w.s.Book(ctx, w.d.pay(t, k2, c2, 501, 2, "r3"))
	require.ErrorIs(t, err, store.ErrFingerNotBound, "the new binding replaced the old finger list")

	require.NoError(t, w.s.RevokeKey(ctx, k2.Ref))
	_, err = w.s.Book(ctx, w.d.pay(t, k2, c2, 501, 3, "r4"))
	require.ErrorIs(t, err, store.ErrKeyRevoked)
	require.ErrorIs(t, w.s.RegisterKey(ctx, w.d.sceneKey(t, "pay", 1)), store.ErrKeyRevoked, "revocation sticks")
	require.ErrorIs(t, w.s.RevokeKey(ctx, store.KeyRef{Device: w.d.dev.ID, App: "x", Scene: "y"}), store.ErrKeyUnknown)
}

func testOrders(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	n := w.order.NewOrder
	again, created, err := w.s.CreateOrder(ctx, n)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, w.order.ID, again.ID, "the same Idempotency-Key returns the first order")
	assert.Len(t, w.order.ID, 32)

	changed := n
	changed.Amount++
	_, _, err = w.s.CreateOrder(ctx, changed)
	require.ErrorIs(t, err, store.ErrIdempotencyConflict)
	otherPayee := n
	otherPayee.Payee = "merchant-43"
	o2, created, err := w.s.CreateOrder(ctx, otherPayee)
	require.NoError(t, err)
	assert.True(t, created, "keys are scoped to the payee")
	assert.NotEqual(t, w.order.ID, o2.ID)

	for name, mut := range map[string]func(o *store.NewOrder){
		"no key":        func(o *store.NewOrder) { o.IdempotencyKey = "" },
		"long key":      func(o *store.NewOrder) { o.IdempotencyKey = strings.Repeat("k", store.MaxIdempotencyKeyLen+1) },
		"no payee":      func(o *store.NewOrder) { o.Payee = "" },
		"zero amount":   func(o *store.NewOrder) { o.Amount = 0 },
		"negative":      func(o *store.NewOrder) { o.Amount = -5 },
		"currency case": func(o *store.NewOrder) { o.Currency = "cny" },
		"currency len":  func(o *store.NewOrder) { o.Currency = "YUAN" },
		"long summary":  func(o *store.NewOrder) { o.Summary = strings.Repeat("s", store.MaxSummaryLen+1) },
	} {
		o := n
		o.IdempotencyKey = "fresh-" + name
		mut(&o)
		_, _, err := w.s.CreateOrder(ctx, o)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
	_, err = w.s.Order(ctx, "nope")
	require.ErrorIs(t, err, store.ErrOrderUnknown)

	// Concurrent creates under one key make one order.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			o, _, err := w.s.CreateOrder(ctx, store.NewOrder{IdempotencyKey: "same", Payee: "p", Amount: 1, Currency: "EUR"})
			ids[i], errs[i] = o.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], ids[i])
	}
}

func testChallenges(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{MaxAttempts: 3})
	ctx := context.Background()
	seen := map[uint64]bool{}
	for i := 1; i <= 3; i++ {
		c := w.challenge(t, w.order)
		assert.NotZero(t, c.Value)
		assert.False(t, seen[c.Value])
		seen[c.Value] = true
		assert.Equal(t, i, c.Attempt)
		assert.Equal(t, w.order.Amount, c.Amount)
		assert.Equal(t, "CNY", c.Currency)
		assert.Equal(t, "merchant-42", c.Payee)
		assert.Equal(t, w.d.dev.ID, c.Device)
		assert.Equal(t, store.DefaultChallengeTTL, c.Expires.Sub(c.Issued))
	}
	_, err := w.s.IssueChallenge(ctx, w.order.ID, w.d.dev.ID)
	require.ErrorIs(t, err, store.ErrTooManyAttempts)
	_, err = w.s.IssueChallenge(ctx, "nope", w.d.dev.ID)
	require.ErrorIs(t, err, store.ErrOrderUnknown)
	o, err := w.s.Order(ctx, w.order.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, o.Attempts)

	o2 := w.newOrder(t, "order-2", 5)
	c := w.challenge(t, o2)
	_, err = w.s.Book(ctx, w.d.pay(t, w.key, c, 100, 1, "r1"))
	require.NoError(t, err)
	_, err = w.s.IssueChallenge(ctx, o2.ID, w.d.dev.ID)
	require.ErrorIs(t, err, store.ErrOrderPaid)
}

func testBookRules(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	c := w.challenge(t, w.order)
	good := w.d.pay(t, w.key, c, 100, 2, "good")
	other := newDevice(t)
	require.NoError(t, w.s.RegisterDevice(ctx, other.dev))
	otherKey := other.sceneKey(t, "pay", 2)
	require.NoError(t, w.s.RegisterKey(ctx, otherKey))
	o2 := w.newOrder(t, "order-2", 7)
	c2 := w.challenge(t, o2)

	cases := []struct {
		name string
		mut  func(b *store.Booking)
		want error
	}{
		{"unknown challenge", func(b *store.Booking) { b.Challenge ^= 1 }, store.ErrChallengeUnknown},
		{"another order", func(b *store.Booking) { b.OrderID = o2.ID }, store.ErrChallengeMismatch},
		{"another order's challenge", func(b *store.Booking) { b.Challenge = c2.Value }, store.ErrChallengeMismatch},
		{"amount", func(b *store.Booking) { b.Amount++ }, store.ErrChallengeMismatch},
		{"currency", func(b *store.Booking) { b.Currency = "USD" }, store.ErrChallengeMismatch},
		{"payee", func(b *store.Booking) { b.Payee = "mallory" }, store.ErrChallengeMismatch},
		{"another device", func(b *store.Booking) { b.Key = otherKey.Ref }, store.ErrChallengeMismatch},
		{"unknown key", func(b *store.Booking) { b.Key.Scene = "nope" }, store.ErrKeyUnknown},
		{"finger not bound", func(b *store.Booking) { b.FingerID = 3 }, store.ErrFingerNotBound},
		{"counter at serial", func(b *store.Booking) { b.Counter = w.key.Serial }, store.ErrCounter},
		{"counter below serial", func(b *store.Booking) { b.Counter = 1 }, store.ErrCounter},
		{"no request id", func(b *store.Booking) { b.RequestID = nil }, store.ErrInvalid},
		{"long request id", func(b *store.Booking) { b.RequestID = make([]byte, store.MaxRequestIDLen+1) }, store.ErrInvalid},
		{"challenge zero", func(b *store.Booking) { b.Challenge = 0 }, store.ErrInvalid},
		{"finger zero", func(b *store.Booking) { b.FingerID = 0 }, store.ErrInvalid},
		{"decision tier not a tier name", func(b *store.Booking) { b.Decision.Tier = "Gold!" }, store.ErrInvalid},
		{"decision factor unknown", func(b *store.Booking) { b.Decision.Satisfied = policy.All + 1 }, store.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := good
			b.RequestID = []byte("req-" + tc.name)
			tc.mut(&b)
			_, err := w.s.Book(ctx, b)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// No refusal consumed the challenge, moved the counter or paid the order.
	rc, err := w.s.Book(ctx, good)
	require.NoError(t, err)
	assert.False(t, rc.Replayed)
	assert.Equal(t, w.order.ID, rc.OrderID)
	assert.Equal(t, uint64(100), rc.Counter)
	assert.Equal(t, good.StatementHash, rc.StatementHash)
	o, err := w.s.Order(ctx, w.order.ID)
	require.NoError(t, err)
	assert.Equal(t, store.OrderPaid, o.Status)
	assert.Equal(t, rc.EntryID, o.EntryID)
	k, err := w.s.Key(ctx, w.key.Ref)
	require.NoError(t, err)
	assert.Equal(t, uint64(100), k.Counter)

	// Another attempt's challenge on the paid order: one booking per order.
	w2 := w.challengeUnchecked(t, w.order)
	require.ErrorIs(t, w2, store.ErrOrderPaid)

	// Expiry.
	c3 := w.challenge(t, o2)
	w.clk.Advance(store.DefaultChallengeTTL)
	_, err = w.s.Book(ctx, w.d.pay(t, w.key, c3, 200, 1, "late"))
	require.ErrorIs(t, err, store.ErrChallengeExpired)
}

func (w *world) challengeUnchecked(t *testing.T, o store.Order) error {
	_, err := w.s.IssueChallenge(context.Background(), o.ID, w.d.dev.ID)
	return err
}

func testIdempotency(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	c := w.challenge(t, w.order)
	b := w.d.pay(t, w.key, c, 100, 1, "r1")
	b.Decision = store.Decision{Tier: "gold", Required: policy.NewSet(policy.Fingerprint, policy.OTP), Satisfied: policy.All}
	first, err := w.s.Book(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, b.Decision, first.Decision)

	again, err := w.s.Book(ctx, b)
	require.NoError(t, err, "the same request")
	assert.True(t, again.Replayed)
	again.Replayed = false
	assert.Equal(t, first, again)

	b2 := b
	b2.RequestID = []byte("r2")
	dup, err := w.s.Book(ctx, b2)
	require.NoError(t, err, "the same statement under another request id")
	assert.True(t, dup.Replayed)
	assert.Equal(t, first.EntryID, dup.EntryID)
	assert.Equal(t, []byte("r1"), dup.RequestID, "the first result, not a new one")
	assert.Equal(t, b.Decision, dup.Decision, "with the decision it was booked under")

	resigned := w.d.pay(t, w.key, c, 101, 1, "r3")
	_, err = w.s.Book(ctx, resigned)
	require.ErrorIs(t, err, store.ErrChallengeUsed, "another statement for a used challenge")
	conflict := resigned
	conflict.RequestID = []byte("r1")
	_, err = w.s.Book(ctx, conflict)
	require.ErrorIs(t, err, store.ErrRequestConflict)

	rows, err := w.s.Ledger(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, rows, 1, "never a second booking")
}

func testCounterCAS(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	// Two payments in flight from one key, counters n and n+1: n+1 always
	// books; n books only if it commits first.
	for i := range 5 {
		o1 := w.newOrder(t, fmt.Sprintf("a%d", i), 1)
		o2 := w.newOrder(t, fmt.Sprintf("b%d", i), 1)
		base := uint64(1000 + 10*i)
		lo := w.d.pay(t, w.key, w.challenge(t, o1), base, 1, fmt.Sprintf("lo%d", i))
		hi := w.d.pay(t, w.key, w.challenge(t, o2), base+1, 1, fmt.Sprintf("hi%d", i))
		var wg sync.WaitGroup
		var errLo, errHi error
		wg.Go(func() { _, errLo = w.s.Book(ctx, lo) })
		wg.Go(func() { _, errHi = w.s.Book(ctx, hi) })
		wg.Wait()
		require.NoError(t, errHi)
		if errLo != nil {
			require.ErrorIs(t, errLo, store.ErrCounter)
		}
		k, err := w.s.Key(ctx, w.key.Ref)
		require.NoError(t, err)
		require.Equal(t, base+1, k.Counter)
	}
	// The full unsigned range compares as unsigned.
	o := w.newOrder(t, "big", 1)
	_, err := w.s.Book(ctx, w.d.pay(t, w.key, w.challenge(t, o), 1<<63+5, 1, "big"))
	require.NoError(t, err)
	o = w.newOrder(t, "small", 1)
	_, err = w.s.Book(ctx, w.d.pay(t, w.key, w.challenge(t, o), 1<<62, 1, "small"))
	require.ErrorIs(t, err, store.ErrCounter)
}

func testPrune(t *testing.T, h Harness) {
	ttl, window := time.Minute, 5*time.Minute
	w := setup(t, h, store.Options{ChallengeTTL: ttl, ReplayWindow: window})
	ctx := context.Background()
	c := w.challenge(t, w.order)
	b := w.d.pay(t, w.key, c, 100, 1, "r1")
	_, err := w.s.Book(ctx, b)
	require.NoError(t, err)
	o2 := w.newOrder(t, "order-2", 5)
	w.challenge(t, o2) // never used

	p, err := w.s.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, store.Pruned{}, p, "nothing is due inside the window")
	w.clk.Advance(window)
	rc, err := w.s.Book(ctx, b)
	require.NoError(t, err, "inside the window a replay gets the first result")
	assert.True(t, rc.Replayed)

	w.clk.Advance(ttl)
	p, err = w.s.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, store.Pruned{Challenges: 2, Requests: 1}, p)
	_, err = w.s.Book(ctx, b)
	require.ErrorIs(t, err, store.ErrChallengeUnknown, "after the window a replay is refused")
	rows, err := w.s.Ledger(ctx, 0, 10)
	require.NoError(t, err)
	assert.Len(t, rows, 1, "the ledger is never pruned")
	p, err = w.s.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, store.Pruned{}, p)
}

func testLedger(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	var want []int64
	for i := range 5 {
		o := w.order
		if i > 0 {
			o = w.newOrder(t, fmt.Sprintf("o%d", i), int64(100+i))
		}
		rc, err := w.s.Book(ctx, w.d.pay(t, w.key, w.challenge(t, o), uint64(100+i), 1, fmt.Sprintf("r%d", i)))
		require.NoError(t, err)
		want = append(want, rc.EntryID)
	}
	page1, err := w.s.Ledger(ctx, 0, 3)
	require.NoError(t, err)
	require.Len(t, page1, 3)
	page2, err := w.s.Ledger(ctx, page1[2].EntryID, 3)
	require.NoError(t, err)
	require.Len(t, page2, 2)
	var got []int64
	for _, r := range append(page1, page2...) {
		got = append(got, r.EntryID)
		assert.Equal(t, w.key.Ref, r.Key)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, int64(1999), page1[0].Amount)
	_, err = w.s.Ledger(ctx, 0, 0)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = w.s.Ledger(ctx, 0, store.MaxLedgerPage+1)
	require.ErrorIs(t, err, store.ErrInvalid)
}

// checkOneBooking asserts the outcome of a race on one statement: exactly
// one booked, every other got that booking back (Replayed) or a typed
// refusal, and the ledger holds one row.
func checkOneBooking(t *testing.T, s store.Store, results []result) {
	t.Helper()
	booked := 0
	var entry int64
	for _, r := range results {
		if r.err == nil && !r.replayed {
			booked++
			entry = r.entry
		}
	}
	require.Equal(t, 1, booked, "exactly one booking: %+v", results)
	for _, r := range results {
		switch {
		case r.err == nil:
			assert.Equal(t, entry, r.entry)
		default:
			assert.ErrorIs(t, r.err, store.ErrChallengeUsed)
		}
	}
	rows, err := s.Ledger(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, entry, rows[0].EntryID)
}

type result struct {
	entry    int64
	replayed bool
	err      error
}

func testRaceGoroutines(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	c := w.challenge(t, w.order)
	b := w.d.pay(t, w.key, c, 100, 1, "r")
	resigned := w.d.pay(t, w.key, c, 101, 1, "x") // same challenge, another statement
	const n = 16
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			bi := b
			switch {
			case i%4 == 3:
				bi = resigned
				bi.RequestID = fmt.Appendf(nil, "x%d", i)
			case i%2 == 1:
				bi.RequestID = fmt.Appendf(nil, "r%d", i)
			}
			<-start
			rc, err := w.s.Book(context.Background(), bi)
			results[i] = result{rc.EntryID, rc.Replayed, err}
		})
	}
	close(start)
	wg.Wait()
	checkOneBooking(t, w.s, results)
}

func testOptions(t *testing.T, h Harness) {
	for _, o := range []store.Options{
		{ChallengeTTL: -time.Second},
		{ChallengeTTL: time.Hour, ReplayWindow: time.Minute},
		{MaxAttempts: -1},
	} {
		_, err := o.WithDefaults()
		require.ErrorIs(t, err, store.ErrInvalid)
	}
	o, err := store.Options{}.WithDefaults()
	require.NoError(t, err)
	assert.Equal(t, store.DefaultChallengeTTL, o.ChallengeTTL)
	assert.Equal(t, store.DefaultReplayWindow, o.ReplayWindow)
	if h.Reopen != nil {
		_, err := h.Reopen(context.Background(), "", store.Options{MaxAttempts: -1})
		require.Error(t, err)
	}
}
