package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// The shield tables (migration 4; store.ShieldStore, docs/protocol.md
// §12 and §15.6) under the conformance suite: every backend must
// implement ShieldStore and give the same answers.

func shieldStore(t *testing.T, s store.Store) store.ShieldStore {
	t.Helper()
	ss, ok := s.(store.ShieldStore)
	require.True(t, ok, "%T does not implement store.ShieldStore", s)
	return ss
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (w *world) preSubmit(o store.Order, dev proof.DeviceID) store.PreSubmit {
	now := w.clk.Now()
	return store.PreSubmit{ID: hex.EncodeToString(randBytes(16)), OrderID: o.ID, Device: dev,
		Body: []byte("presubmit " + o.ID), Nonce: randBytes(16), CardCert: []byte{0x30, 0x03, 0x02, 0x01, 0x01},
		Issued: now, Expires: now.Add(2 * time.Minute)}
}

// testShieldLogins: a login random is used once (ErrShieldUsed after),
// not after it expired (ErrShieldExpired), unknown ones are
// ErrShieldUnknown, a device holds at most MaxShieldLoginsPerDevice
// unused ones (expired ones are pruned when a new one is issued), sizes
// are bounded (ErrInvalid).
func testShieldLogins(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ss := shieldStore(t, w.s)
	ctx := context.Background()
	dev := w.d.dev.ID

	r := randBytes(32)
	require.NoError(t, ss.IssueShieldLogin(ctx, dev, r, w.clk.Now().Add(time.Minute)))
	require.Error(t, ss.IssueShieldLogin(ctx, dev, r, w.clk.Now().Add(time.Minute)), "a random is issued once")
	got, err := ss.ConsumeShieldLogin(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, dev, got)
	got, err = ss.ConsumeShieldLogin(ctx, r)
	require.ErrorIs(t, err, store.ErrShieldUsed)
	assert.Equal(t, dev, got, "the device is still named for the log")
	_, err = ss.ConsumeShieldLogin(ctx, randBytes(32))
	require.ErrorIs(t, err, store.ErrShieldUnknown)

	late := randBytes(32)
	require.NoError(t, ss.IssueShieldLogin(ctx, dev, late, w.clk.Now().Add(time.Minute)))
	w.clk.Advance(time.Minute)
	_, err = ss.ConsumeShieldLogin(ctx, late)
	require.ErrorIs(t, err, store.ErrShieldExpired, "expiry is exclusive: at expires it is over")

	for _, bad := range [][]byte{nil, randBytes(15), randBytes(65)} {
		require.ErrorIs(t, ss.IssueShieldLogin(ctx, dev, bad, w.clk.Now().Add(time.Minute)), store.ErrInvalid, "%d bytes", len(bad))
		_, err = ss.ConsumeShieldLogin(ctx, bad)
		require.ErrorIs(t, err, store.ErrInvalid)
	}

	// The bound: MaxShieldLoginsPerDevice unused randoms, then refused;
	// another device is not affected; once they expire, room again.
	for range store.MaxShieldLoginsPerDevice {
		require.NoError(t, ss.IssueShieldLogin(ctx, dev, randBytes(16), w.clk.Now().Add(time.Minute)))
	}
	require.ErrorIs(t, ss.IssueShieldLogin(ctx, dev, randBytes(16), w.clk.Now().Add(time.Minute)), store.ErrShieldLimit)
	var other proof.DeviceID
	copy(other[:], randBytes(len(other)))
	require.NoError(t, ss.IssueShieldLogin(ctx, other, randBytes(16), w.clk.Now().Add(time.Minute)))
	w.clk.Advance(time.Minute)
	require.NoError(t, ss.IssueShieldLogin(ctx, dev, randBytes(16), w.clk.Now().Add(time.Minute)))
}

// testShieldCards: no card until one is put; a later login replaces it.
func testShieldCards(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ss := shieldStore(t, w.s)
	ctx := context.Background()
	dev := w.d.dev.ID
	_, err := ss.ShieldCard(ctx, dev)
	require.ErrorIs(t, err, store.ErrShieldNoCard)
	require.NoError(t, ss.PutShieldCard(ctx, dev, []byte("cert one")))
	w.clk.Advance(time.Second)
	require.NoError(t, ss.PutShieldCard(ctx, dev, []byte("cert two")))
	c, err := ss.ShieldCard(ctx, dev)
	require.NoError(t, err)
	assert.Equal(t, []byte("cert two"), c.Cert)
	assert.Equal(t, dev, c.Device)
	assert.True(t, c.LoggedIn.Equal(w.clk.Now()), "%v", c.LoggedIn)
	require.ErrorIs(t, ss.PutShieldCard(ctx, dev, nil), store.ErrInvalid)
	require.ErrorIs(t, ss.PutShieldCard(ctx, dev, make([]byte, store.MaxShieldCertLen+1)), store.ErrInvalid)
}

// testShieldPreSubmits: a pre-submit needs an open order; it is read
// back whole; the nonce is consumed once (ErrShieldUsed), only with its
// own nonce (ErrShieldMismatch), not after expiry (ErrShieldExpired); an
// order holds at most MaxPreSubmitsPerOrder; a paid order takes none.
func testShieldPreSubmits(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ss := shieldStore(t, w.s)
	ctx := context.Background()
	dev := w.d.dev.ID

	_, err := ss.PreSubmit(ctx, hex.EncodeToString(randBytes(16)))
	require.ErrorIs(t, err, store.ErrShieldUnknown)
	orphan := w.preSubmit(w.order, dev)
	orphan.OrderID = hex.EncodeToString(randBytes(16))
	require.ErrorIs(t, ss.CreatePreSubmit(ctx, orphan), store.ErrOrderUnknown)

	p := w.preSubmit(w.order, dev)
	require.NoError(t, ss.CreatePreSubmit(ctx, p))
	got, err := ss.PreSubmit(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.OrderID, got.OrderID)
	assert.Equal(t, p.Device, got.Device)
	assert.Equal(t, p.Body, got.Body)
	assert.Equal(t, p.Nonce, got.Nonce)
	assert.Equal(t, p.CardCert, got.CardCert)
	assert.True(t, got.Issued.Equal(p.Issued) && got.Expires.Equal(p.Expires))
	assert.False(t, got.HasConfirmed)

	sig := randBytes(70)
	_, err = ss.ConfirmPreSubmit(ctx, p.ID, randBytes(16), sig)
	require.ErrorIs(t, err, store.ErrShieldMismatch, "another nonce")
	_, err = ss.ConfirmPreSubmit(ctx, hex.EncodeToString(randBytes(16)), p.Nonce, sig)
	require.ErrorIs(t, err, store.ErrShieldUnknown)
	_, err = ss.ConfirmPreSubmit(ctx, p.ID, p.Nonce, randBytes(4))
	require.ErrorIs(t, err, store.ErrInvalid, "a signature too short to be one")
	w.clk.Advance(time.Second)
	conf, err := ss.ConfirmPreSubmit(ctx, p.ID, p.Nonce, sig)
	require.NoError(t, err)
	assert.True(t, conf.HasConfirmed)
	assert.True(t, conf.Confirmed.Equal(w.clk.Now()))
	assert.Equal(t, sig, conf.CardSig)
	_, err = ss.ConfirmPreSubmit(ctx, p.ID, p.Nonce, randBytes(70))
	require.ErrorIs(t, err, store.ErrShieldUsed, "the nonce is single-use")
	got, err = ss.PreSubmit(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, sig, got.CardSig, "the first signature stays")

	late := w.preSubmit(w.order, dev)
	require.NoError(t, ss.CreatePreSubmit(ctx, late))
	w.clk.Advance(2 * time.Minute)
	_, err = ss.ConfirmPreSubmit(ctx, late.ID, late.Nonce, sig)
	require.ErrorIs(t, err, store.ErrShieldExpired)

	dup := w.preSubmit(w.order, dev)
	dup.Nonce = p.Nonce
	require.Error(t, ss.CreatePreSubmit(ctx, dup), "a nonce is never issued twice")
	for name, mut := range map[string]func(*store.PreSubmit){
		"short id":       func(p *store.PreSubmit) { p.ID = "abc" },
		"short nonce":    func(p *store.PreSubmit) { p.Nonce = randBytes(15) },
		"long nonce":     func(p *store.PreSubmit) { p.Nonce = randBytes(33) },
		"empty body":     func(p *store.PreSubmit) { p.Body = nil },
		"huge body":      func(p *store.PreSubmit) { p.Body = make([]byte, store.MaxShieldBlob+1) },
		"no certificate": func(p *store.PreSubmit) { p.CardCert = nil },
		"expires first":  func(p *store.PreSubmit) { p.Expires = p.Issued },
	} {
		bad := w.preSubmit(w.order, dev)
		mut(&bad)
		require.ErrorIs(t, ss.CreatePreSubmit(ctx, bad), store.ErrInvalid, name)
	}

	// The bound per order (three issued above).
	for range store.MaxPreSubmitsPerOrder - 2 {
		require.NoError(t, ss.CreatePreSubmit(ctx, w.preSubmit(w.order, dev)))
	}
	require.ErrorIs(t, ss.CreatePreSubmit(ctx, w.preSubmit(w.order, dev)), store.ErrShieldLimit)

	// A paid order takes no pre-submit.
	o2 := w.newOrder(t, "order-shield-paid", 10)
	_, err = w.s.Book(ctx, w.d.pay(t, w.key, w.challenge(t, o2), 700, 1, "shield-paid"))
	require.NoError(t, err)
	require.ErrorIs(t, ss.CreatePreSubmit(ctx, w.preSubmit(o2, dev)), store.ErrOrderPaid)
}

// testShieldRace: many confirmations of one pre-submit and many
// consumptions of one login random, from goroutines on two handles of
// the same database (two server processes): exactly one of each wins;
// the others are ErrShieldUsed.
func testShieldRace(t *testing.T, h Harness) {
	w, handles := raceWorld(t, h)
	ctx := context.Background()
	o := w.newOrder(t, "shield-race", 5)
	var stores []store.ShieldStore
	for _, s := range handles {
		stores = append(stores, shieldStore(t, s))
	}
	race := func(name string, f func(ss store.ShieldStore, i int) error) {
		raceOnce(t, name, 16, store.ErrShieldUsed, func(i int) error { return f(stores[i%len(stores)], i) })
	}
	for round := range 3 {
		p := w.preSubmit(o, w.d.dev.ID)
		require.NoError(t, stores[0].CreatePreSubmit(ctx, p))
		var winner []byte
		var mu sync.Mutex
		race("confirm", func(ss store.ShieldStore, i int) error {
			sig := bytes.Repeat([]byte{byte(i + 1)}, 64)
			_, err := ss.ConfirmPreSubmit(ctx, p.ID, p.Nonce, sig)
			if err == nil {
				mu.Lock()
				winner = sig
				mu.Unlock()
			}
			return err
		})
		got, err := stores[len(stores)-1].PreSubmit(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, winner, got.CardSig, "round %d: the stored signature is the winner's", round)

		r := randBytes(32)
		require.NoError(t, stores[0].IssueShieldLogin(ctx, w.d.dev.ID, r, w.clk.Now().Add(time.Minute)))
		race("login", func(ss store.ShieldStore, _ int) error { _, err := ss.ConsumeShieldLogin(ctx, r); return err })
	}
}
