package middleware

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/shieldmsg"
)

// shieldWorld is a CA, a payment server with a SQLite store, and a
// personalised card with an issued certificate and the server's
// certificate pinned.
type shieldWorld struct {
	srv      *payserver.Server
	st       store.Store
	card     *card.Card
	shares   []string
	cardCert []byte
	device   proof.DeviceID
	caDir    string
}

func newShieldWorld(t *testing.T) *shieldWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	authority, err := ca.Init(filepath.Join(dir, "ca"), ca.InitOptions{})
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	creds, pool, err := payserver.IssueCredentials(ctx, filepath.Join(dir, "ca"), "pay.fpemu.test")
	require.NoError(t, err)
	st, err := payserver.OpenStore(ctx, "sqlite:"+filepath.Join(dir, "s.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv, err := payserver.New(payserver.Config{Store: st, Roots: verify.NewRoots(proof.PublicKey{4}),
		Channel: channel.ServerConfig{Credentials: creds, Roots: pool}})
	require.NoError(t, err)

	c, paths := personalised(t)
	m, err := Open(&direct{s: c.NewSession()}, paths, nil)
	require.NoError(t, err)
	defer m.Close()
	// personalisation at the bank counter: pin the server certificate
	require.NoError(t, m.PinServerCertificate(card.DefaultAdmin, creds.SignCert.Raw))
	// seed 002 certificate issuance: keygen → P10 → CA → P7 → card
	require.NoError(t, m.Login(userPIN))
	_, err = m.GenerateKey()
	require.NoError(t, err)
	csr, err := m.CertRequest()
	require.NoError(t, err)
	authority, err = ca.Open(filepath.Join(dir, "ca"), ca.Options{})
	require.NoError(t, err)
	// the bank counter issues the card for the customer's phone: the
	// certificate's subject names that device
	var device proof.DeviceID
	_, _ = rand.Read(device[:])
	iss, err := authority.Issue(ctx, ca.Request{CSR: csr, Profile: ca.ProfileShield, Device: hex.EncodeToString(device[:])})
	require.NoError(t, err)
	p7, err := iss.PKCS7()
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	require.NoError(t, m.ImportCertificate(p7))
	cert, err := m.Certificate()
	require.NoError(t, err)
	return &shieldWorld{srv: srv, st: st, card: c, shares: paths, cardCert: cert, device: device, caDir: filepath.Join(dir, "ca")}
}

func (w *shieldWorld) open(t *testing.T) *Card {
	t.Helper()
	m, err := Open(&direct{s: w.card.NewSession()}, w.shares, nil)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

func (w *shieldWorld) login(t *testing.T, m *Card) {
	t.Helper()
	ctx := context.Background()
	lc, err := w.srv.ShieldLoginBegin(ctx, w.device)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	sig, err := m.ServerLogin(lc.Random, lc.Signature)
	require.NoError(t, err)
	dev, err := w.srv.ShieldLoginFinish(ctx, lc.Random, w.cardCert, sig)
	require.NoError(t, err)
	require.Equal(t, w.device, dev)
}

func (w *shieldWorld) order(t *testing.T, amount int64) string {
	t.Helper()
	o, _, err := w.st.CreateOrder(context.Background(), store.NewOrder{IdempotencyKey: t.Name() + string(rune(amount)), Payee: "tea shop",
		Amount: amount, Currency: "CNY", Summary: "tea"})
	require.NoError(t, err)
	return o.ID
}

// TestShieldFlows is seed 002 end to end in process: issuance, pinned
// server certificate, login both ways, pre-submit → server signature →
// card check, PIN, card signature → server check, single-use nonce,
// and the typed check the payment path calls.
func TestShieldFlows(t *testing.T) {
	ctx := context.Background()
	w := newShieldWorld(t)
	m := w.open(t)

	// the pinned certificate cannot be swapped, not even with the admin PIN
	other, err := m.ServerCertificate()
	require.NoError(t, err)
	err = m.PinServerCertificate(card.DefaultAdmin, other)
	var ce *CardError
	require.ErrorAs(t, err, &ce)
	assert.EqualValues(t, 0x6985, ce.SW)

	w.login(t, m)
	// a login random is single use
	lc, err := w.srv.ShieldLoginBegin(ctx, w.device)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	sig, err := m.ServerLogin(lc.Random, lc.Signature)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(ctx, lc.Random, w.cardCert, sig)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(ctx, lc.Random, w.cardCert, sig)
	assert.ErrorIs(t, err, store.ErrShieldUsed)

	orderID := w.order(t, 9900)
	pc, err := w.srv.ShieldPreSubmit(ctx, orderID, w.device)
	require.NoError(t, err)
	assert.ErrorIs(t, w.srv.ShieldConfirmed(ctx, pc.ID, orderID, w.device), store.ErrShieldNotConfirmed)
	ps, err := shieldmsg.ParsePreSubmit(pc.PreSubmit)
	require.NoError(t, err)
	assert.Equal(t, int64(9900), ps.Amount)
	assert.Equal(t, orderID, ps.OrderID)

	// wrong PIN: no signature
	_, err = m.ConfirmPreSubmit("99999999", pc.PreSubmit, pc.Nonce, pc.Signature)
	var pe *PINError
	require.ErrorAs(t, err, &pe)
	csig, err := m.ConfirmPreSubmit(userPIN, pc.PreSubmit, pc.Nonce, pc.Signature)
	require.NoError(t, err)
	// the card cleared the PIN status: a second confirmation needs the PIN again
	_, err = m.SignTransaction([]byte("another"))
	require.ErrorAs(t, err, &ce)
	assert.EqualValues(t, 0x6982, ce.SW)

	require.NoError(t, w.srv.ShieldConfirm(ctx, pc.ID, pc.Nonce, csig))
	require.NoError(t, w.srv.ShieldConfirmed(ctx, pc.ID, orderID, w.device))
	assert.ErrorIs(t, w.srv.ShieldConfirm(ctx, pc.ID, pc.Nonce, csig), store.ErrShieldUsed, "the nonce is single use")
	var otherDev proof.DeviceID
	assert.ErrorIs(t, w.srv.ShieldConfirmed(ctx, pc.ID, orderID, otherDev), store.ErrShieldMismatch)
	assert.ErrorIs(t, w.srv.ShieldConfirmed(ctx, pc.ID, w.order(t, 1), w.device), store.ErrShieldMismatch)
	assert.ErrorIs(t, w.srv.ShieldConfirmed(ctx, "00000000000000000000000000000000", orderID, w.device), store.ErrShieldUnknown)

	// the card checks the server's signature over exactly what it signs
	pc2, err := w.srv.ShieldPreSubmit(ctx, orderID, w.device)
	require.NoError(t, err)
	_, err = m.ConfirmPreSubmit(userPIN, pc2.PreSubmit, pc.Nonce, pc2.Signature)
	assert.ErrorIs(t, err, ErrServerSignature, "another nonce")
	_, err = m.ConfirmPreSubmit(userPIN, pc.PreSubmit, pc2.Nonce, pc2.Signature)
	assert.ErrorIs(t, err, ErrServerSignature, "another pre-submit")
	// a confirmation over another pre-submit does not confirm this one
	assert.ErrorIs(t, w.srv.ShieldConfirm(ctx, pc2.ID, pc2.Nonce, csig), payserver.ErrShieldSignature)
	assert.ErrorIs(t, w.srv.ShieldConfirm(ctx, pc2.ID, pc.Nonce, csig), payserver.ErrShieldSignature)
}

// TestShieldPhishingServer: a server key that is not the pinned one gets
// no login signature from the card.
func TestShieldPhishingServer(t *testing.T) {
	w := newShieldWorld(t)
	m := w.open(t)
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	sig, err := k.Sign(rand.Reader, shieldmsg.LoginMessage(random), sm2.DefaultSM2SignerOpts)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	_, err = m.ServerLogin(random, sig)
	assert.ErrorIs(t, err, ErrServerSignature)
	// and a card certificate not from the CA is refused by the server
	lc, err := w.srv.ShieldLoginBegin(context.Background(), w.device)
	require.NoError(t, err)
	csig, err := m.ServerLogin(lc.Random, lc.Signature)
	require.NoError(t, err)
	tmpl := &smx509.Certificate{SerialNumber: bigOne(), KeyUsage: smx509.KeyUsageDigitalSignature}
	self, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(context.Background(), lc.Random, self, csig)
	assert.ErrorIs(t, err, payserver.ErrShieldCert)
}

// TestShieldConfirmRace: of 16 concurrent confirmations with the same
// valid signature, exactly one consumes the nonce.
func TestShieldConfirmRace(t *testing.T) {
	ctx := context.Background()
	w := newShieldWorld(t)
	m := w.open(t)
	w.login(t, m)
	orderID := w.order(t, 500)
	pc, err := w.srv.ShieldPreSubmit(ctx, orderID, w.device)
	require.NoError(t, err)
	csig, err := m.ConfirmPreSubmit(userPIN, pc.PreSubmit, pc.Nonce, pc.Signature)
	require.NoError(t, err)
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := w.srv.ShieldConfirm(ctx, pc.ID, pc.Nonce, csig); {
			case err == nil:
				wins.Add(1)
			case assert.ErrorIs(t, err, store.ErrShieldUsed):
				used.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, wins.Load())
	assert.EqualValues(t, 15, used.Load())
}

func bigOne() *big.Int { return big.NewInt(1) }

// TestShieldDeviceCertNotACard: a device certificate from the same CA
// (profile device: no card policy), with a valid signature over the
// login random by its key, does not log in as a card; the card's own
// certificate (profile shield) carries the policy.
func TestShieldDeviceCertNotACard(t *testing.T) {
	ctx := context.Background()
	w := newShieldWorld(t)
	leaf, err := smx509.ParseCertificate(w.cardCert)
	require.NoError(t, err)
	require.True(t, ca.HasShieldPolicy(leaf))

	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	csr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{
		Subject: pkix.Name{CommonName: "device-0042", Organization: []string{card.CertOrganization}}}, k)
	require.NoError(t, err)
	authority, err := ca.Open(w.caDir, ca.Options{})
	require.NoError(t, err)
	iss, err := authority.Issue(ctx, ca.Request{CSR: csr, Profile: ca.ProfileDevice})
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	require.False(t, ca.HasShieldPolicy(iss.Certs[0]))

	lc, err := w.srv.ShieldLoginBegin(ctx, w.device)
	require.NoError(t, err)
	sig, err := k.Sign(rand.Reader, shieldmsg.CardLoginMessage(lc.Random), sm2.DefaultSM2SignerOpts)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(ctx, lc.Random, iss.Certs[0].Raw, sig)
	assert.ErrorIs(t, err, payserver.ErrShieldCert)
	assert.ErrorContains(t, err, "no card policy")
	_, err = w.st.(store.ShieldStore).ShieldCard(ctx, w.device)
	assert.ErrorIs(t, err, store.ErrShieldNoCard, "nothing recorded")
}

// TestShieldLoginDeviceFromCertificate: a card logs in only as the device
// its CA certificate was issued for (the subject, ca.Request.Device): a
// login begun for another device, with the card's valid signature, is
// ErrShieldDevice and records no card for that device, so no pre-submit
// can be issued for it; a card certificate issued without a device names
// none and is refused too.
func TestShieldLoginDeviceFromCertificate(t *testing.T) {
	ctx := context.Background()
	w := newShieldWorld(t)
	m := w.open(t)
	var victim proof.DeviceID
	_, _ = rand.Read(victim[:])

	lc, err := w.srv.ShieldLoginBegin(ctx, victim)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	sig, err := m.ServerLogin(lc.Random, lc.Signature)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(ctx, lc.Random, w.cardCert, sig)
	require.ErrorIs(t, err, payserver.ErrShieldDevice)
	_, err = w.st.(store.ShieldStore).ShieldCard(ctx, victim)
	require.ErrorIs(t, err, store.ErrShieldNoCard, "nothing recorded for the named device")
	_, err = w.srv.ShieldPreSubmit(ctx, w.order(t, 700), victim)
	require.ErrorIs(t, err, store.ErrShieldNoCard)

	// The same card logs in as its own device.
	w.login(t, m)

	// A shield certificate without a device (the card's own subject).
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	csr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{
		Subject: pkix.Name{CommonName: "se-0042", Organization: []string{card.CertOrganization}}}, k)
	require.NoError(t, err)
	authority, err := ca.Open(w.caDir, ca.Options{})
	require.NoError(t, err)
	iss, err := authority.Issue(ctx, ca.Request{CSR: csr, Profile: ca.ProfileShield})
	require.NoError(t, err)
	require.NoError(t, authority.Close())
	lc, err = w.srv.ShieldLoginBegin(ctx, w.device)
	require.NoError(t, err)
	sig, err = k.Sign(rand.Reader, shieldmsg.CardLoginMessage(lc.Random), sm2.DefaultSM2SignerOpts)
	require.NoError(t, err)
	_, err = w.srv.ShieldLoginFinish(ctx, lc.Random, iss.Certs[0].Raw, sig)
	require.ErrorIs(t, err, payserver.ErrShieldDevice)
	assert.ErrorContains(t, err, "names no device")
	crd, err := w.st.(store.ShieldStore).ShieldCard(ctx, w.device)
	require.NoError(t, err)
	assert.Equal(t, w.cardCert, crd.Cert, "the device's card is still its own")
}
