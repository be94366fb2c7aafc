package payment

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

const serverName = "pay.fpemu.test"

// testCA is the payment server's CA as the channel tests need it.
type testCA struct {
	key    *sm2.PrivateKey
	cert   *smx509.Certificate
	roots  *smx509.CertPool
	serial int64
}

func newTestCA(t testing.TB) *testCA {
	key, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fpemu test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	roots := smx509.NewCertPool()
	roots.AddCert(c)
	return &testCA{key: key, cert: c, roots: roots, serial: 1}
}

func (ca *testCA) issue(t testing.TB, cn string, pub any, usage smx509.KeyUsage) []byte {
	ca.serial++
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: usage}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	require.NoError(t, err)
	return der
}

// fromCSR issues the certificate a CSR asks for (its CN and key).
func (ca *testCA) fromCSR(t testing.TB, csrDER []byte, usage smx509.KeyUsage) []byte {
	csr, err := smx509.ParseCertificateRequest(csrDER)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	return ca.issue(t, csr.Subject.CommonName, csr.PublicKey, usage)
}

const (
	signUsage = smx509.KeyUsageDigitalSignature
	encUsage  = smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment
)

// chanServer is the server side's keys.
type chanServer struct {
	ca    *testCA
	creds *channel.SM2Credentials
	rsa   *rsa.PrivateKey
}

func newChanServer(t testing.TB) *chanServer {
	ca := newTestCA(t)
	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	x, err := channel.NewKeyExchanger(ek)
	require.NoError(t, err)
	sc, err := smx509.ParseCertificate(ca.issue(t, serverName, sk.Public(), signUsage))
	require.NoError(t, err)
	ec, err := smx509.ParseCertificate(ca.issue(t, serverName, ek.Public(), encUsage))
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return &chanServer{ca: ca, creds: &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x, Decrypter: ek}, rsa: rk}
}

func (s *chanServer) anchors(t testing.TB) []byte {
	pub, err := x509.MarshalPKIXPublicKey(&s.rsa.PublicKey)
	require.NoError(t, err)
	b, err := payproto.TrustAnchors{ServerName: serverName, Roots: [][]byte{s.ca.cert.Raw}, RSAServer: pub}.Marshal()
	require.NoError(t, err)
	return b
}

func (s *chanServer) server(t testing.TB, ps ...chanwire.Profile) *channel.Server {
	srv, err := channel.NewServer(channel.ServerConfig{Profiles: ps, Credentials: s.creds, Roots: s.ca.roots, RSA: &channel.RSAServerKeys{Key: s.rsa}})
	require.NoError(t, err)
	return srv
}

// provision runs CHANNEL_KEY for every kind and installs the CA's
// certificates for the SM2 keys.
func (s *chanServer) provision(t testing.TB, inv rpc.Invoker) {
	ctx := testCtx(t)
	for kind, usage := range map[payproto.ChannelKeyKind]smx509.KeyUsage{payproto.ChannelKeySign: signUsage, payproto.ChannelKeyEnc: encUsage} {
		csr, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NoError(t, payproto.InstallChannelCert{Kind: kind, DER: s.ca.fromCSR(t, csr, usage)}.Execute(ctx, inv))
	}
	_, err := payproto.ChannelKey{Kind: payproto.ChannelKeyRSA}.Execute(ctx, inv)
	require.NoError(t, err)
}

// establish runs a handshake of profile between the TA and srv.
func establish(t testing.TB, inv rpc.Invoker, srv *channel.Server, p chanwire.Profile) uint32 {
	ctx := testCtx(t)
	h, m1, err := payproto.OpenChannel{Profile: p}.Execute(ctx, inv)
	require.NoError(t, err)
	m2, est, err := srv.Handle(m1)
	require.NoError(t, err)
	require.False(t, est)
	m3, est, err := payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, inv)
	require.NoError(t, err)
	require.True(t, est)
	_, est, err = srv.Handle(m3)
	require.NoError(t, err)
	require.True(t, est)
	return h
}

func channelDevice(t *testing.T) (*device, *rpc.Session, *chanServer) {
	cs := newChanServer(t)
	d := newDevice(t)
	cfg := d.config()
	cfg.Anchors = cs.anchors(t)
	s := serve(t, tatest.Start(t, NewTA, cfg))
	cs.provision(t, s)
	return d, s, cs
}

// TestChannelEveryProfile: each profile establishes between the TA and
// channel.Server; a payment statement is signed and sealed inside the TA;
// the server opens it, finds the device id and user id the TA filled in,
// and verifies the statement; the server's feedback comes back through
// CHANNEL_OPEN_RECORD.
func TestChannelEveryProfile(t *testing.T) {
	d, s, cs := channelDevice(t)
	sc := registered(t, d, s)
	ctx := testCtx(t)
	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
		t.Run(p.String(), func(t *testing.T) {
			srv := cs.server(t, p)
			h := establish(t, s, srv, p)

			rec, err := payproto.SealMessage{Handle: h, Custom: []byte(`{"hello":1}`)}.Execute(ctx, s)
			require.NoError(t, err)
			m, err := srv.OpenRecord(rec)
			require.NoError(t, err)
			assert.Equal(t, []byte(`{"hello":1}`), m.Custom)
			assert.Len(t, m.DeviceID, 32, "the TA names the device (hex device id)")
			assert.Len(t, m.UserID, 16, "the TA names the caller's client identity")

			c := authorized(t, d, s)
			rec, err = payproto.SealPayment{Handle: h, Ref: sceneRef, Challenge: c, Payload: []byte("order 1")}.Execute(ctx, s)
			require.NoError(t, err)
			m, err = srv.OpenRecord(rec)
			require.NoError(t, err)
			_, err = proof.VerifyPayment(m.Custom, sc, c, []byte("order 1"))
			require.NoError(t, err, "the server verifies the statement the TA sealed")

			fb, err := srv.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: []byte("booked")})
			require.NoError(t, err)
			got, err := payproto.OpenChannelRecord{Handle: h, Record: fb}.Execute(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, []byte("booked"), got)
			require.NoError(t, payproto.CloseChannel{Handle: h}.Execute(ctx, s))
			_, err = payproto.SealMessage{Handle: h}.Execute(ctx, s)
			require.ErrorIs(t, err, payproto.ErrNoChannel)
		})
	}
}

// TestChannelRefusals: each rule of §8.11 the TA itself enforces.
func TestChannelRefusals(t *testing.T) {
	_, s, cs := channelDevice(t)
	ctx := testCtx(t)
	csr, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, s)
	require.NoError(t, err)

	t.Run("certificate from another root", func(t *testing.T) {
		other := newTestCA(t)
		err := payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: other.fromCSR(t, csr, signUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate for a key the TA lacks", func(t *testing.T) {
		k, err := sm2.GenerateKey(rand.Reader)
		require.NoError(t, err)
		c, err := smx509.ParseCertificateRequest(csr)
		require.NoError(t, err)
		err = payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: cs.ca.issue(t, c.Subject.CommonName, k.Public(), signUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate for the other kind", func(t *testing.T) {
		err := payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: cs.ca.fromCSR(t, csr, encUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate naming another device", func(t *testing.T) {
		c, err := smx509.ParseCertificateRequest(csr)
		require.NoError(t, err)
		err = payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: cs.ca.issue(t, "another-device", c.PublicKey, signUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("handshake check fails: the channel dies", func(t *testing.T) {
		h, _, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		// The server message of another handshake.
		srv := cs.server(t, chanwire.ProfileGMFS)
		_, m1, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		m2, _, err := srv.Handle(m1)
		require.NoError(t, err)
		_, _, err = payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
		_, _, err = payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrNoChannel, "dead after an error")
	})
	t.Run("seal before established", func(t *testing.T) {
		h, _, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		_, err = payproto.SealMessage{Handle: h, Custom: []byte("x")}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
	})
	t.Run("feedback for another user", func(t *testing.T) {
		srv := cs.server(t, chanwire.ProfileGMFS)
		h := establish(t, s, srv, chanwire.ProfileGMFS)
		fb, err := srv.Seal(chanwire.AppMessage{DeviceID: []byte("00"), UserID: []byte("someone else"), Custom: []byte("booked")})
		require.NoError(t, err)
		_, err = payproto.OpenChannelRecord{Handle: h, Record: fb}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
	})
	t.Run("unknown profile", func(t *testing.T) {
		_, _, err := payproto.OpenChannel{Profile: 9}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadRequest)
	})
}

// TestChannelBoundToIdentity: another client identity cannot use a
// channel it did not open; a PUBLIC session can open none.
func TestChannelBoundToIdentity(t *testing.T) {
	cs := newChanServer(t)
	d := newDevice(t)
	cfg := d.config()
	cfg.Anchors = cs.anchors(t)
	ta := tatest.Start(t, NewTA, cfg)
	ctx := testCtx(t)
	_, err := ta.ChannelKey(ctx, ownerA, payproto.ChannelKeyRSA)
	require.NoError(t, err)
	h, _, err := ta.OpenChannel(ctx, ownerA, chanwire.ProfileOpteeRSA)
	require.NoError(t, err)
	_, err = ta.SealChannel(ownerB, h, nil)
	require.ErrorIs(t, err, payproto.ErrNoChannel)
	require.ErrorIs(t, ta.CloseChannel(ownerB, h), payproto.ErrNoChannel)
	_, _, err = ta.OpenChannel(ctx, [16]byte{}, chanwire.ProfileOpteeRSA)
	require.ErrorIs(t, err, payproto.ErrNeedsIdentity)
	_, err = ta.SealChannel(ownerA, h, nil)
	require.ErrorIs(t, err, payproto.ErrChannelFailed, "still ownerA's (not established)")
}

// TestChannelBounds: MaxChannelsPerIdentity (the oldest goes),
// MaxChannels (ErrChannelsBusy), ChannelIdleMs (forgotten).
func TestChannelBounds(t *testing.T) {
	cs := newChanServer(t)
	d := newDevice(t)
	cfg := d.config()
	cfg.Anchors = cs.anchors(t)
	ta := tatest.Start(t, NewTA, cfg)
	ctx := testCtx(t)
	_, err := ta.ChannelKey(ctx, ownerA, payproto.ChannelKeyRSA)
	require.NoError(t, err)
	var hs []uint32
	for range payproto.MaxChannelsPerIdentity + 1 {
		h, _, err := ta.OpenChannel(ctx, ownerA, chanwire.ProfileOpteeRSA)
		require.NoError(t, err)
		hs = append(hs, h)
		d.Clock.Advance(time.Millisecond)
	}
	require.ErrorIs(t, ta.CloseChannel(ownerA, hs[0]), payproto.ErrNoChannel, "the oldest was closed")
	require.NoError(t, ta.CloseChannel(ownerA, hs[1]))

	for i := 0; ; i++ {
		owner := [16]byte{1, byte(i)}
		_, _, err := ta.OpenChannel(ctx, owner, chanwire.ProfileOpteeRSA)
		if err != nil {
			require.ErrorIs(t, err, payproto.ErrChannelsBusy)
			require.Equal(t, payproto.MaxChannels-(payproto.MaxChannelsPerIdentity-1), i)
			break
		}
	}
	d.Clock.Advance((payproto.ChannelIdleMs + 1) * time.Millisecond)
	_, _, err = ta.OpenChannel(ctx, ownerB, chanwire.ProfileOpteeRSA)
	require.NoError(t, err, "idle channels were dropped")
	require.ErrorIs(t, ta.CloseChannel(ownerA, hs[2]), payproto.ErrNoChannel, "idle: forgotten")
}
