package payserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/middleware"
	"github.com/fpemu/fpemu/se/shieldmsg"
)

// cardLink is the middleware's transmitter straight to a card session in
// process (the middleware's own tests do the same).
type cardLink struct {
	mu sync.Mutex
	s  *card.Session
}

func (l *cardLink) Transmit(cmd []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Transmit(context.Background(), cmd), nil
}

// shieldPayWorld is a payment server (SQLite store, CA-issued channel
// credentials, the seed 003 example policy, an OTP sealer; Factors.Shield
// left nil, so the server's own /v1/shield flow is the hook), a
// registered device with a scene key (its own SM2 hierarchy, certified as
// the payment TA does), the device's OTP seed, and a personalised card
// issued by the CA for that device and logged in over HTTP.
type shieldPayWorld struct {
	srv     *Server
	st      store.Store
	device  proof.DeviceID
	key     store.Key
	sceneSK *sm2.PrivateKey
	seed    []byte
	params  otp.Params
	now     time.Time
	counter uint64
	m       *middleware.Card
	api     *middleware.Server
}

const shieldPayPIN = "20250601"

func newShieldPayWorld(t *testing.T) *shieldPayWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	authority, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	creds, pool, err := IssueCredentials(ctx, caDir, "pay.fpemu.test")
	require.NoError(t, err)
	st, err := OpenStore(ctx, "sqlite:"+filepath.Join(dir, "s.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	sealer := newSealer(t)
	w := &shieldPayWorld{st: st, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), counter: 100}
	w.srv, err = New(Config{Store: st, Roots: verify.NewRoots(proof.PublicKey{4}), Logger: zap.NewNop(),
		Channel: channel.ServerConfig{Credentials: creds, Roots: pool},
		Factors: Factors{Policy: seed003Policy(t), DefaultTier: "standard", Sealer: sealer, Now: func() time.Time { return w.now }}})
	require.NoError(t, err)
	require.IsType(t, ownShield{}, w.srv.cfg.Factors.Shield, "the default hook: the server's own shield flow")

	// The device: device key → app key → scene key, as the payment TA certifies them.
	dk, device := registerDevice(t, st)
	w.device = device
	ak, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	appCert := signCert(t, dk, proof.Cert{Kind: proof.KindApp, DeviceID: w.device, Serial: 2, PublicKey: proof.PublicKeyOf(&ak.PublicKey), AppID: factorApp})
	w.sceneSK, err = sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	const gid, authID = 0, 0x1122334455667788
	fingers := []uint32{1}
	sc := proof.Cert{Kind: proof.KindScene, DeviceID: w.device, Serial: 3, GroupID: gid, AuthenticatorID: authID,
		FingerBinding: proof.FingerBinding(gid, authID, fingers), PublicKey: proof.PublicKeyOf(&w.sceneSK.PublicKey),
		AppID: factorApp, Scene: "pay"}
	sceneCert := signCert(t, ak, sc)
	w.key = store.Key{Ref: store.KeyRef{Device: w.device, App: factorApp, Scene: "pay"}, PublicKey: sc.PublicKey, Serial: sc.Serial,
		GroupID: gid, AuthenticatorID: authID, FingerBinding: sc.FingerBinding, FingerIDs: fingers, AppCert: appCert, SceneCert: sceneCert}
	require.NoError(t, st.RegisterKey(ctx, w.key))
	require.NoError(t, st.SetTier(ctx, w.device, "platinum"))

	w.params = w.srv.cfg.Factors.OTPParams
	w.seed = enrollOTP(t, st, sealer, store.OTPRef{Device: w.device, App: factorApp}, w.params)

	// The card: personalised, the server's certificate pinned, its key
	// certified by the CA for this device (the shield profile's subject).
	c, err := card.Open(filepath.Join(testkit.ShortDir(t), "card"), card.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	shares := []string{filepath.Join(dir, "a.share"), filepath.Join(dir, "b.share"), filepath.Join(dir, "c.share")}
	require.NoError(t, middleware.Personalise(&cardLink{s: c.NewSession()}, card.DefaultAdmin, shares, 2, nil))
	w.m, err = middleware.Open(&cardLink{s: c.NewSession()}, shares, nil)
	require.NoError(t, err)
	t.Cleanup(w.m.Close)
	require.NoError(t, w.m.ChangePIN(card.TransportPIN, shieldPayPIN))
	require.NoError(t, w.m.PinServerCertificate(card.DefaultAdmin, creds.SignCert.Raw))
	require.NoError(t, w.m.Login(shieldPayPIN))
	_, err = w.m.GenerateKey()
	require.NoError(t, err)
	csr, err := w.m.CertRequest()
	require.NoError(t, err)
	authority, err = ca.Open(caDir, ca.Options{})
	require.NoError(t, err)
	iss, err := authority.Issue(ctx, ca.Request{CSR: csr, Profile: ca.ProfileShield, Device: hex.EncodeToString(w.device[:])})
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	p7, err := iss.PKCS7()
	require.NoError(t, err)
	require.NoError(t, w.m.ImportCertificate(p7))

	hs := httptest.NewServer(w.srv.MerchantHandler())
	t.Cleanup(hs.Close)
	w.api, err = middleware.NewServer(hs.URL, nil)
	require.NoError(t, err)
	require.NoError(t, w.m.LoginToServer(ctx, w.api, w.device, shieldPayPIN))
	return w
}

func (w *shieldPayWorld) order(t *testing.T, key string, amount int64) store.Order {
	t.Helper()
	o, _, err := w.st.CreateOrder(context.Background(), store.NewOrder{IdempotencyKey: key, Payee: "jeweller-9",
		Amount: amount, Currency: "CNY", Summary: "ring"})
	require.NoError(t, err)
	return o
}

// statement is what the payment TA signs for the order's challenge: the
// scene key's statement over the summary's binding, with the PASSWORD
// flag (Gatekeeper's token checked), and the pay intent that announces it.
func (w *shieldPayWorld) statement(t *testing.T, o store.Order) (wire.PayIntent, []byte) {
	t.Helper()
	ch, err := w.st.IssueChallenge(context.Background(), o.ID, w.device)
	require.NoError(t, err)
	payload, err := wire.Binding(summaryOf(o, ch))
	require.NoError(t, err)
	w.counter++
	st := proof.Statement{DeviceID: w.device, Counter: w.counter, Challenge: ch.Value, PayloadHash: proof.PayloadHash(payload),
		FingerID: 1, TAVersion: 1, SensorVersion: 1, AppID: factorApp, Scene: "pay", Flags: proof.FlagPassword}
	body, err := st.Marshal()
	require.NoError(t, err)
	signed, err := proof.Sign(w.sceneSK, body)
	require.NoError(t, err)
	rid := make([]byte, 16)
	_, _ = rand.Read(rid)
	return wire.PayIntent{RequestID: rid, OrderID: o.ID, Challenge: ch.Value}, signed
}

// TestShieldFactorPays is the shield factor end to end with the server's
// default hook (ownShield): under the seed 003 example policy a platinum
// customer's CNY payment above 50 000.00 needs fingerprint, password,
// one-time code and shield. A card issued for the device and logged in
// confirms the pre-submit of exactly that order and device; the payment
// (a statement signed by the device's scene key, PayIntent2 with the code
// and that pre-submit's id) is booked with all four factors satisfied.
// The same payment without the ref, with the confirmed ref of another
// order, or with a ref the card never confirmed is refused with rule
// factors, shield missing, and books nothing.
func TestShieldFactorPays(t *testing.T) {
	ctx := context.Background()
	w := newShieldPayWorld(t)
	const large = 60_000_00
	all := policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP, policy.Shield)
	o := w.order(t, "ring-1", large)
	other := w.order(t, "ring-2", large)

	conf, err := w.m.ConfirmOrder(ctx, w.api, w.device, o.ID, shieldPayPIN, func(ps shieldmsg.PreSubmit) bool {
		return ps.Amount == large && ps.Payee == "jeweller-9"
	})
	require.NoError(t, err)
	otherConf, err := w.m.ConfirmOrder(ctx, w.api, w.device, other.ID, shieldPayPIN, nil)
	require.NoError(t, err)
	unconfirmed, err := w.srv.ShieldPreSubmit(ctx, o.ID, w.device)
	require.NoError(t, err)

	code, err := w.params.CodeAt(w.seed, w.now)
	require.NoError(t, err)
	in, signed := w.statement(t, o)
	for name, ref := range map[string][]byte{
		"no ref":               nil,
		"ref of another order": []byte(otherConf.ID),
		"unconfirmed ref":      []byte(unconfirmed.ID),
		"unknown ref":          []byte("0123456789abcdef0123456789abcdef"),
	} {
		dec, _, err := w.srv.settle(ctx, w.device, in, &wire.PayIntent2{PayIntent: in, OTPCode: code, ShieldRef: ref}, signed)
		var me *policy.MissingError
		require.ErrorAs(t, err, &me, name)
		assert.Equal(t, policy.NewSet(policy.Shield), me.Missing, name)
		assert.Equal(t, wire.RuleFactors, verify.RuleOf(err), name)
		assert.Equal(t, "platinum", dec.Tier, name)
		assert.Equal(t, all, dec.Required, name)
		got, err := w.st.Order(ctx, o.ID)
		require.NoError(t, err)
		assert.NotEqual(t, store.OrderPaid, got.Status, name+": nothing booked")
	}

	dec, rc, err := w.srv.settle(ctx, w.device, in, &wire.PayIntent2{PayIntent: in, OTPCode: code, ShieldRef: []byte(conf.ID)}, signed)
	require.NoError(t, err)
	assert.Equal(t, all, dec.Required)
	assert.Equal(t, all, dec.Satisfied)
	assert.Zero(t, dec.Missing())
	assert.Equal(t, o.ID, rc.OrderID)
	assert.False(t, rc.Replayed)
	paid, err := w.st.Order(ctx, o.ID)
	require.NoError(t, err)
	assert.Equal(t, store.OrderPaid, paid.Status)
	assert.Equal(t, rc.EntryID, paid.EntryID)
	rows, err := w.st.Ledger(ctx, rc.EntryID-1, 1)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, w.key.Ref, rows[0].Key)
	assert.EqualValues(t, large, rows[0].Amount)

	// The same request again (a lost feedback): the first booking,
	// replayed, with the decision it was booked under.
	again, rc2, err := w.srv.settle(ctx, w.device, in, &wire.PayIntent2{PayIntent: in, OTPCode: code, ShieldRef: []byte(conf.ID)}, signed)
	require.NoError(t, err)
	assert.True(t, rc2.Replayed)
	assert.Equal(t, rc.EntryID, rc2.EntryID)
	assert.Equal(t, dec, again, "the replay carries the original decision")

	// A ref is bound to (order, device): the other order's confirmed ref
	// counts for that order and this device only.
	var stranger proof.DeviceID
	_, _ = rand.Read(stranger[:])
	assert.ErrorIs(t, w.srv.ShieldConfirmed(ctx, otherConf.ID, other.ID, stranger), store.ErrShieldMismatch)
	require.NoError(t, w.srv.ShieldConfirmed(ctx, otherConf.ID, other.ID, w.device))
}
