package device

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fpemu/fpemu/payserver/store/storetest"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/servertest"
	psverify "github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

func writePEM(t *testing.T, path, typ string, ders ...[]byte) {
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: d})...)
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// issue has the CA issue certificates for fresh-key CSRs or the TA's.
func issueFor(t *testing.T, c *ca.CA, p ca.Profile, u ca.Usage, csr, encCSR []byte) *ca.Issued {
	iss, err := c.Issue(context.Background(), ca.Request{CSR: csr, EncCSR: encCSR, Profile: p, Usage: u})
	require.NoError(t, err)
	return iss
}

func createOrder(t *testing.T, base, key string, body string) (int, map[string]any) {
	req, err := http.NewRequest(http.MethodPost, "http://"+base+"/v1/orders", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp.StatusCode, v
}

func getJSON(t *testing.T, u string, v any) {
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// TestServerPaymentAcrossProcesses is issue 11's payment end to end, on
// SQLite: `fpemu server` as its own process, the payment TA as its own
// process (the fingerprint TA's sealed auth result played by the test's
// bio hook, as the channel test does), the REE app in this test carrying
// only bytes. Merchant order over HTTP → registration → challenge with
// the signed summary → payment sealed in the TA → booked → feedback
// verified by the TA → one ledger row; a retried payment (the same
// statement again, over a new connection) gets the first result; a
// status request after a lost feedback gets it too.
func TestServerPaymentAcrossProcesses(t *testing.T) {
	dir := shortDir(t)
	runServerPayment(t, dir, "sqlite:"+filepath.Join(dir, "server.db"))
}

// TestServerPaymentAcrossProcessesPostgres is the same on PostgreSQL.
func TestServerPaymentAcrossProcessesPostgres(t *testing.T) {
	dir := shortDir(t)
	runServerPayment(t, dir, storetest.PostgresURL(t, dir, "psrv"))
}

func runServerPayment(t *testing.T, dir, db string) {
	ctx := testCtx(t)
	exe := testkit.BuildFpemu(t, dir)

	// The CA, the server's dual certificates and keys in files.
	caDir := filepath.Join(dir, "ca")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	defer c.Close()
	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	scsr, err := ca.NewCSR(rand.Reader, sk, ca.CSRTemplate{CommonName: "pay.fpemu.test"})
	require.NoError(t, err)
	ecsr, err := ca.NewCSR(rand.Reader, ek, ca.CSRTemplate{CommonName: "pay.fpemu.test"})
	require.NoError(t, err)
	srvCerts := issueFor(t, c, ca.ProfileServer, ca.UsageDual, scsr, ecsr)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srvCerts.Certs[0].Raw, srvCerts.Certs[1].Raw)
	require.NoError(t, ca.WriteKeyFile(filepath.Join(dir, "server-sign.key"), sk))
	require.NoError(t, ca.WriteKeyFile(filepath.Join(dir, "server-enc.key"), ek))

	// The device: payment TA process provisioned with the CA root.
	anchors, err := payproto.TrustAnchors{ServerName: "pay.fpemu.test", Roots: [][]byte{c.Root().Raw}}.Marshal()
	require.NoError(t, err)
	d := bootDevice(t, func(cfg *Config) {
		cfg.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment}
		cfg.TrustAnchors = anchors
	})
	h := fingerprintHook(t, d)
	pay := session(t, d, tee.RolePayment, rpc.AsUser())
	require.NoError(t, h.SetFingerList(0, 0xA1, []uint32{1, 2}))
	relayAll(t, h, pay)
	reg, err := drive.RegisterScene(ctx, pay, paySceneRef, 0, nil)
	require.NoError(t, err)
	signCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, pay)
	require.NoError(t, err)
	encCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeyEnc}.Execute(ctx, pay)
	require.NoError(t, err)
	devCerts := issueFor(t, c, ca.ProfileDevice, ca.UsageDual, signCSR, encCSR)
	require.NoError(t, payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: devCerts.Certs[0].Raw}.Execute(ctx, pay))
	require.NoError(t, payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: devCerts.Certs[1].Raw}.Execute(ctx, pay))

	// The device root the server trusts: this device's attestation key.
	devCert, err := proof.VerifyDeviceCert(reg.Device)
	require.NoError(t, err)
	rootPEM, err := devCert.PublicKey.PEM()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "device-roots.pem"), rootPEM, 0o644))

	srv := servertest.Start(t, exe, "--db", db, "--ca", caDir, "--cert", filepath.Join(dir, "server.pem"),
		"--key", filepath.Join(dir, "server-sign.key"), "--enc-key", filepath.Join(dir, "server-enc.key"),
		"--device-roots", filepath.Join(dir, "device-roots.pem"))

	// The merchant creates an order; the same Idempotency-Key returns it.
	const order = `{"payee":"coffee-7","amount":1250,"currency":"CNY","summary":"2 flat whites"}`
	code, o := createOrder(t, srv.HTTP, "k-1", order)
	require.Equal(t, http.StatusCreated, code, "%v", o)
	orderID := o["id"].(string)
	code, o2 := createOrder(t, srv.HTTP, "k-1", order)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, orderID, o2["id"])

	dial := func() *drive.Channel {
		conn, err := net.Dial("tcp", srv.Channel)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		ch, err := drive.Connect(ctx, pay, conn, chanwire.ProfileGMFS)
		require.NoError(t, err)
		return ch
	}
	ch := dial()
	require.NoError(t, ch.RegisterWithServer(ctx, reg, []uint32{1, 2}))
	var refused *drive.ServerRefused
	require.ErrorAs(t, ch.RegisterWithServer(ctx, reg, []uint32{1}), &refused, "a finger list the key is not bound to")
	assert.Equal(t, wire.RuleFingers, refused.Rule)
	ch = dial() // the refusal was answered in kind; a fresh connection anyway

	chal, sum, err := ch.ServerChallenge(ctx, orderID)
	require.NoError(t, err)
	require.NoError(t, psverify.SummarySignature(chal, srvCerts.Certs[0]), "the summary is signed by the server")
	assert.Equal(t, "coffee-7", sum.Payee)
	assert.Equal(t, int64(1250), sum.Amount)
	assert.Equal(t, devCert.DeviceID, sum.Device)

	// The user touches: the TA's own challenge authorised by a match of
	// finger 2, the statement signed in the TA and carried by the REE.
	op := beginPayment(t, pay)
	require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, op, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
	relayAll(t, h, pay)
	payload, err := wire.Binding(sum)
	require.NoError(t, err)
	signed, err := payproto.SignPayment{Ref: paySceneRef, Challenge: op, Payload: payload}.Execute(ctx, pay)
	require.NoError(t, err)
	fb, err := ch.ResendStatement(ctx, signed, sum, []byte("req-1"))
	require.NoError(t, err)
	require.Equal(t, wire.RuleOK, fb.Rule, "%+v", fb)
	assert.False(t, fb.Replayed)
	assert.Positive(t, fb.EntryID)

	// The retry over a new connection: the first result, nothing booked.
	ch2 := dial()
	again, err := ch2.ResendStatement(ctx, signed, sum, []byte("req-1"))
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	assert.Equal(t, fb.EntryID, again.EntryID)
	st, err := ch2.OrderStatus(ctx, orderID)
	require.NoError(t, err)
	assert.Equal(t, fb.EntryID, st.EntryID)

	var ledger payserver.LedgerJSON
	getJSON(t, "http://"+srv.HTTP+"/v1/ledger", &ledger)
	require.Len(t, ledger.Entries, 1)
	assert.Equal(t, orderID, ledger.Entries[0].OrderID)
	assert.Equal(t, uint32(2), ledger.Entries[0].FingerID)
	var paid payserver.OrderJSON
	getJSON(t, "http://"+srv.HTTP+"/v1/orders/"+orderID, &paid)
	assert.Equal(t, "paid", paid.Status)

	// A second order paid the TA-sealed way (CHANNEL_SEAL_PAYMENT): the
	// statement never reaches the REE in the clear.
	code, o = createOrder(t, srv.HTTP, "k-2", `{"payee":"coffee-7","amount":300,"currency":"CNY","summary":"cookie"}`)
	require.Equal(t, http.StatusCreated, code)
	_, sum2, err := ch2.ServerChallenge(ctx, o["id"].(string))
	require.NoError(t, err)
	op = beginPayment(t, pay)
	require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 1, op, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
	relayAll(t, h, pay)
	fb2, err := ch2.PayOrder(ctx, paySceneRef, op, sum2, []byte("req-2"))
	require.NoError(t, err)
	require.Equal(t, wire.RuleOK, fb2.Rule, "%+v", fb2)
	assert.Greater(t, fb2.EntryID, fb.EntryID)

	// The first order's statement replayed for the second order's
	// challenge under a new request id: refused, payload rule.
	ch3 := dial()
	_, sum3, err := ch3.ServerChallenge(ctx, o["id"].(string))
	require.Error(t, err, "the second order is paid")
	_ = sum3
	code, o = createOrder(t, srv.HTTP, "k-3", `{"payee":"coffee-7","amount":1250,"currency":"CNY","summary":"2 flat whites"}`)
	require.Equal(t, http.StatusCreated, code)
	_, sum4, err := ch3.ServerChallenge(ctx, o["id"].(string))
	require.NoError(t, err)
	bad, err := ch3.ResendStatement(ctx, signed, sum4, []byte("req-3"))
	require.NoError(t, err)
	assert.Equal(t, wire.RulePayload, bad.Rule, "%+v", bad)
	getJSON(t, "http://"+srv.HTTP+"/v1/ledger", &ledger)
	assert.Len(t, ledger.Entries, 2)
}
