package device

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// payServerPKI is the payment server's side for the channel tests: a CA
// (the test plays it), the server's dual certificates and its RSA key.
type payServerPKI struct {
	caKey  *sm2.PrivateKey
	ca     *smx509.Certificate
	roots  *smx509.CertPool
	creds  *channel.SM2Credentials
	rsa    *rsa.PrivateKey
	serial int64
}

func (p *payServerPKI) issue(t *testing.T, cn string, pub any, usage smx509.KeyUsage) []byte {
	p.serial++
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: usage}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	require.NoError(t, err)
	return der
}

func newPayServerPKI(t *testing.T) *payServerPKI {
	key, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fpemu test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	ca, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	p := &payServerPKI{caKey: key, ca: ca, roots: smx509.NewCertPool(), serial: 1}
	p.roots.AddCert(ca)
	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	x, err := channel.NewKeyExchanger(ek)
	require.NoError(t, err)
	sc, err := smx509.ParseCertificate(p.issue(t, "pay.fpemu.test", sk.Public(), smx509.KeyUsageDigitalSignature))
	require.NoError(t, err)
	ec, err := smx509.ParseCertificate(p.issue(t, "pay.fpemu.test", ek.Public(), smx509.KeyUsageKeyAgreement|smx509.KeyUsageKeyEncipherment))
	require.NoError(t, err)
	p.creds = &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x, Decrypter: ek}
	p.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return p
}

func (p *payServerPKI) anchors(t *testing.T) []byte {
	pub, err := x509.MarshalPKIXPublicKey(&p.rsa.PublicKey)
	require.NoError(t, err)
	b, err := payproto.TrustAnchors{ServerName: "pay.fpemu.test", Roots: [][]byte{p.ca.Raw}, RSAServer: pub}.Marshal()
	require.NoError(t, err)
	return b
}

// serveChannel is the payment server's loop for one TCP connection: the
// handshake, then one payment record whose statement it verifies against
// scene and answers with a feedback naming the statement's counter. It
// reports the first error on done.
func (p *payServerPKI) serveChannel(t *testing.T, ln net.Listener, profile chanwire.Profile, scene proof.Cert, done chan<- error) {
	conn, err := ln.Accept()
	if err != nil {
		done <- err
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	srv, err := channel.NewServer(channel.ServerConfig{Profiles: []chanwire.Profile{profile}, Credentials: p.creds, Roots: p.roots, RSA: &channel.RSAServerKeys{Key: p.rsa}})
	if err != nil {
		done <- err
		return
	}
	for !srv.Established() {
		msg, err := drive.ReadMessage(conn)
		if err != nil {
			done <- err
			return
		}
		out, _, err := srv.Handle(msg)
		if err != nil {
			done <- err
			return
		}
		if out != nil {
			if _, err := conn.Write(out); err != nil {
				done <- err
				return
			}
		}
	}
	rec, err := drive.ReadMessage(conn)
	if err != nil {
		done <- err
		return
	}
	m, err := srv.OpenRecord(rec)
	if err != nil {
		done <- err
		return
	}
	st, err := proof.VerifyStatement(m.Custom, scene)
	if err != nil {
		done <- err
		return
	}
	fb, err := srv.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: []byte("booked " + big.NewInt(int64(st.Counter)).String())})
	if err != nil {
		done <- err
		return
	}
	_, err = conn.Write(fb)
	done <- err
}

// TestChannelAcrossProcesses is issue 10's "done when": the payment TA as
// its own process (provisioned with the trust anchors by the launcher),
// channel.Server in this test behind a real TCP socket on loopback, and
// the REE app (sim/drive) carrying only bytes. Every profile establishes;
// the TA signs and seals a payment statement; the server opens and
// verifies it and answers; the TA verifies the feedback and returns it.
func TestChannelAcrossProcesses(t *testing.T) {
	pki := newPayServerPKI(t)
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment}
		c.TrustAnchors = pki.anchors(t)
	})
	h := fingerprintHook(t, d)
	pay := session(t, d, tee.RolePayment, rpc.AsUser())
	scene := registerPayment(t, h, pay)
	ctx := testCtx(t)

	// Registration: the TA's CSRs go to the CA, its certificates come back.
	for kind, usage := range map[payproto.ChannelKeyKind]smx509.KeyUsage{
		payproto.ChannelKeySign: smx509.KeyUsageDigitalSignature,
		payproto.ChannelKeyEnc:  smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment,
	} {
		csrDER, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, pay)
		require.NoError(t, err)
		csr, err := smx509.ParseCertificateRequest(csrDER)
		require.NoError(t, err)
		require.NoError(t, csr.CheckSignature())
		require.NoError(t, payproto.InstallChannelCert{Kind: kind, DER: pki.issue(t, csr.Subject.CommonName, csr.PublicKey, usage)}.Execute(ctx, pay))
	}
	_, err := payproto.ChannelKey{Kind: payproto.ChannelKeyRSA}.Execute(ctx, pay)
	require.NoError(t, err)

	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
		t.Run(p.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan error, 1)
			go pki.serveChannel(t, ln, p, scene, done)

			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			ch, err := drive.Connect(ctx, pay, conn, p)
			require.NoError(t, err)

			op := beginPayment(t, pay)
			require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, op, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
			relayAll(t, h, pay)
			require.NoError(t, ch.SendPayment(ctx, paySceneRef, op, []byte("order 42")))
			fb, err := ch.Receive(ctx)
			require.NoError(t, err)
			assert.Regexp(t, `^booked \d+$`, string(fb))
			require.NoError(t, <-done)
			require.NoError(t, ch.Close(ctx))
		})
	}
}
