package device

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// These tests run the real payment TA (and Keymaster, which relays its
// auth-token key to it at boot) in their own OS processes. The fingerprint
// TA is played by the test: a bio.Sender sealing with the fingerprint →
// payment key of this boot, which the launcher provisions a second
// fingerprint record for (as secure boot could). The REE code under test
// never holds it.

func fingerprintHook(t *testing.T, d *Device) *bio.Sender {
	t.Helper()
	rec := provisioned(t, d, tee.RoleFingerprint)
	clock := rec.Clock()
	s, err := envelope.NewSealer(tee.UUIDFingerprint, rec.Keys, clock)
	require.NoError(t, err)
	h, err := bio.NewSender(s, clock)
	require.NoError(t, err)
	return h
}

func relayAll(t *testing.T, h *bio.Sender, pay *Session) {
	t.Helper()
	require.NoError(t, payproto.DeliverAll(testCtx(t), pay, h.Drain(0)))
}

var paySceneRef = payproto.KeyRef{AppID: "com.example.wallet", Scene: "pay"}

func registerPayment(t *testing.T, h *bio.Sender, pay *Session) proof.Cert {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, h.SetFingerList(0, 0xA1, []uint32{1, 2}))
	relayAll(t, h, pay)
	dev, err := payproto.GetDeviceCert{}.Execute(ctx, pay)
	require.NoError(t, err)
	app, err := payproto.CreateAppKey{AppID: paySceneRef.AppID}.Execute(ctx, pay)
	require.NoError(t, err)
	scene, err := payproto.CreateSceneKey{Ref: paySceneRef, GroupID: 0}.Execute(ctx, pay)
	require.NoError(t, err)
	_, _, sc, err := proof.VerifyChain(dev, app, scene)
	require.NoError(t, err)
	return sc
}

// beginPayment is BEGIN_PAYMENT for paySceneRef.
func beginPayment(t *testing.T, pay *Session) uint64 {
	t.Helper()
	c, err := payproto.BeginPayment{Ref: paySceneRef}.Execute(testCtx(t), pay)
	require.NoError(t, err)
	return c
}

func payOnce(t *testing.T, h *bio.Sender, pay *Session, scene proof.Cert) proof.Statement {
	t.Helper()
	op := beginPayment(t, pay)
	require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, op, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
	relayAll(t, h, pay)
	payload := []byte("order 42")
	signed, err := payproto.SignPayment{Ref: paySceneRef, Challenge: op, Payload: payload}.Execute(testCtx(t), pay)
	require.NoError(t, err)
	st, err := proof.VerifyPayment(signed, scene, op, payload)
	require.NoError(t, err)
	return st
}

// TestPaymentAcrossProcesses: boot relays Keymaster's key to the payment
// TA; bio envelopes sealed by the fingerprint side open in the payment
// process; a signed payment verifies offline; a Keymaster envelope is not
// accepted as a bio report; a finger-list change invalidates the key.
func TestPaymentAcrossProcesses(t *testing.T) {
	d := bootDevice(t, func(c *Config) { c.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment} })
	h := fingerprintHook(t, d)
	pay := session(t, d, tee.RolePayment, rpc.AsUser())
	scene := registerPayment(t, h, pay)
	st := payOnce(t, h, pay, scene)
	assert.Equal(t, uint32(2), st.FingerID)

	km := session(t, d, tee.RoleKeymaster)
	env, err := kmproto.GetAuthTokenKey{Recipient: tee.UUIDPayment}.Execute(testCtx(t), km)
	require.NoError(t, err)
	_, err = payproto.Deliver{Envelope: env}.Execute(testCtx(t), pay)
	require.ErrorIs(t, err, payproto.ErrWrongRoute)
	require.NoError(t, payproto.SetAuthTokenKey{Envelope: env}.Execute(testCtx(t), pay), "the same envelope is an auth-token key")

	require.NoError(t, h.SetFingerList(0, 0xA2, []uint32{1, 2, 3}))
	relayAll(t, h, pay)
	_, err = payproto.BeginPayment{Ref: paySceneRef}.Execute(testCtx(t), pay)
	require.ErrorIs(t, err, payproto.ErrKeyInvalidated)
}

// TestPaymentCounterSurvivesKill: the counter, the keys and the replay
// marks live in the payment TA's sealed store; kill -9 and a launcher
// restart keep them.
func TestPaymentCounterSurvivesKill(t *testing.T) {
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment}
		c.Restart = RestartPolicy{MaxRestarts: 1}
	})
	h := fingerprintHook(t, d)
	pay := session(t, d, tee.RolePayment, rpc.AsUser())
	scene := registerPayment(t, h, pay)
	before := payOnce(t, h, pay, scene)

	require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, beginPayment(t, pay), bio.Match{AuthenticatorID: 0xA1}))
	old := h.Drain(0)
	require.NoError(t, payproto.DeliverAll(testCtx(t), pay, old))

	pid, err := d.PID(tee.RolePayment)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	e := nextEvent(t, d, EventRestarted)
	require.Equal(t, tee.RolePayment, e.Role)
	require.NotEqual(t, pid, e.PID)

	pay2 := session(t, d, tee.RolePayment, rpc.AsUser())
	_, err = payproto.Deliver{Envelope: old[0]}.Execute(testCtx(t), pay2)
	require.ErrorIs(t, err, tee.ErrSecurity, "replay after restart")
	after := payOnce(t, h, pay2, scene)
	assert.Greater(t, after.Counter, before.Counter)
	assert.Equal(t, before.DeviceID, after.DeviceID)
}
