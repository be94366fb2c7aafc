// Package storetest is the conformance suite of payserver/store: every
// rule of the Store interface, idempotency, pruning and the double-spend
// race (goroutines, and separate OS processes on a shared database), run
// unchanged against each backend. A backend's tests call Run with a
// Harness; its TestMain hands child processes to Child; BenchmarkBook
// calls Bench.
package storetest

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// Clock is a settable clock for Options.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// device is a real SM2 key hierarchy, certified as the payment TA does it
// (bio/payment/proof), so the store sees exactly what the verifier hands.
type device struct {
	dev      store.Device
	app      *sm2.PrivateKey
	appCert  proof.Cert
	scenes   map[string]*sm2.PrivateKey
	serial   uint64
	appBytes []byte
}

func mustKey(tb testing.TB) *sm2.PrivateKey {
	tb.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	return k
}

func newDevice(tb testing.TB) *device {
	tb.Helper()
	dk := mustKey(tb)
	pub := proof.PublicKeyOf(&dk.PublicKey)
	dc := proof.Cert{Kind: proof.KindDevice, DeviceID: proof.DeviceIDOf(pub), Serial: 1, PublicKey: pub}
	body, err := dc.Marshal()
	require.NoError(tb, err)
	signed, err := proof.Sign(dk, body)
	require.NoError(tb, err)
	_, err = proof.VerifyDeviceCert(signed)
	require.NoError(tb, err)

	ak := mustKey(tb)
	ac := proof.Cert{Kind: proof.KindApp, DeviceID: dc.DeviceID, Serial: 2, PublicKey: proof.PublicKeyOf(&ak.PublicKey), AppID: "com.example.pay"}
	body, err = ac.Marshal()
	require.NoError(tb, err)
	appSigned, err := proof.Sign(dk, body)
	require.NoError(tb, err)
	return &device{
		dev: store.Device{ID: dc.DeviceID, PublicKey: pub, Cert: signed},
		app: ak, appCert: ac, appBytes: appSigned, scenes: map[string]*sm2.PrivateKey{}, serial: 10,
	}
}

// sceneKey certifies a new scene key bound to fingers, as the TA's
// REGISTER_SCENE does, and returns what RegisterKey takes.
func (d *device) sceneKey(tb testing.TB, scene string, fingers ...uint32) store.Key {
	tb.Helper()
	sk := mustKey(tb)
	d.scenes[scene] = sk
	d.serial++
	const gid, authID = 0, 0x1122334455667788
	c := proof.Cert{Kind: proof.KindScene, DeviceID: d.dev.ID, Serial: d.serial, GroupID: gid, AuthenticatorID: authID,
		FingerBinding: proof.FingerBinding(gid, authID, fingers), PublicKey: proof.PublicKeyOf(&sk.PublicKey),
		AppID: d.appCert.AppID, Scene: scene}
	body, err := c.Marshal()
	require.NoError(tb, err)
	signed, err := proof.Sign(d.app, body)
	require.NoError(tb, err)
	_, _, sc, err := proof.VerifyChain(d.dev.Cert, d.appBytes, signed)
	require.NoError(tb, err)
	return store.Key{
		Ref:       store.KeyRef{Device: d.dev.ID, App: sc.AppID, Scene: sc.Scene},
		PublicKey: sc.PublicKey, Serial: sc.Serial, GroupID: sc.GroupID, AuthenticatorID: sc.AuthenticatorID,
		FingerBinding: sc.FingerBinding, FingerIDs: fingers, AppCert: d.appBytes, SceneCert: signed,
	}
}

// pay signs a statement for challenge c with the scene key and returns
// the Booking the verifier would hand to Book (request id rid).
func (d *device) pay(tb testing.TB, k store.Key, c store.Challenge, counter uint64, finger uint32, rid string) store.Booking {
	tb.Helper()
	payload := []byte(c.OrderID)
	st := proof.Statement{DeviceID: d.dev.ID, Counter: counter, Challenge: c.Value, PayloadHash: proof.PayloadHash(payload),
		FingerID: finger, TAVersion: 1, SensorVersion: 1, AppID: k.Ref.App, Scene: k.Ref.Scene}
	body, err := st.Marshal()
	require.NoError(tb, err)
	signed, err := proof.Sign(d.scenes[k.Ref.Scene], body)
	require.NoError(tb, err)
	var sc proof.Cert
	sc, err = proof.ParseCert(mustSigned(tb, k.SceneCert).Body)
	require.NoError(tb, err)
	got, err := proof.VerifyPayment(signed, sc, c.Value, payload)
	require.NoError(tb, err)
	return store.Booking{
		RequestID: []byte(rid), StatementHash: sm3.Sum(signed), Key: k.Ref, Counter: got.Counter,
		Challenge: got.Challenge, FingerID: got.FingerID,
		OrderID: c.OrderID, Amount: c.Amount, Currency: c.Currency, Payee: c.Payee,
	}
}

func mustSigned(tb testing.TB, b []byte) proof.Signed {
	tb.Helper()
	s, err := proof.ParseSigned(b)
	require.NoError(tb, err)
	return s
}
