package channel

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// testPKI is a CA and the dual-certificate credentials it issued.
type testPKI struct {
	caKey  *sm2.PrivateKey
	ca     *smx509.Certificate
	roots  *smx509.CertPool
	serial int64
}

var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func newPKI(t testing.TB, name string) *testPKI {
	key, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkixName(name),
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour * 365 * 10),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	ca, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	roots := smx509.NewCertPool()
	roots.AddCert(ca)
	return &testPKI{caKey: key, ca: ca, roots: roots, serial: 1}
}

func (p *testPKI) issue(t testing.TB, cn string, usage smx509.KeyUsage, key *sm2.PrivateKey) *smx509.Certificate {
	p.serial++
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkixName(cn),
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour * 365 * 5),
		KeyUsage: usage,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	require.NoError(t, err)
	c, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// creds mints a signing and an encryption certificate for cn.
func (p *testPKI) creds(t testing.TB, cn string) *SM2Credentials {
	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	x, err := NewKeyExchanger(ek)
	require.NoError(t, err)
	return &SM2Credentials{
		SignCert: p.issue(t, cn, smx509.KeyUsageDigitalSignature, sk), Signer: sk,
		EncCert: p.issue(t, cn, smx509.KeyUsageKeyAgreement|smx509.KeyUsageKeyEncipherment, ek), Exchange: x,
		Decrypter: ek,
	}
}

// world is a device and a server that trust each other's CA.
type world struct {
	pki            *testPKI
	device, server *SM2Credentials
	devRSA         *rsa.PrivateKey
	srvRSA         *rsa.PrivateKey
}

var (
	worldOnce sync.Once
	theWorld  *world
)

// getWorld mints the PKI and keys once per test binary (RSA keygen is slow).
func getWorld(t testing.TB) *world {
	worldOnce.Do(func() {
		pki := newPKI(t, "fpemu test CA")
		w := &world{pki: pki, device: pki.creds(t, "device-0001"), server: pki.creds(t, "pay.fpemu.test")}
		var err error
		w.devRSA, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		w.srvRSA, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		theWorld = w
	})
	return theWorld
}

func (w *world) clientConfig(p chanwire.Profile) ClientConfig {
	return ClientConfig{Profile: p, Now: func() time.Time { return testNow },
		Credentials: w.device, Roots: w.pki.roots, ServerName: "pay.fpemu.test",
		RSA: &RSAClientKeys{DeviceID: []byte("device-0001"), Key: w.devRSA, ServerKey: &w.srvRSA.PublicKey}}
}

func (w *world) serverConfig(ps ...chanwire.Profile) ServerConfig {
	return ServerConfig{Profiles: ps, Now: func() time.Time { return testNow },
		Credentials: w.server, Roots: w.pki.roots, RSA: &RSAServerKeys{Key: w.srvRSA}}
}

// handshake runs a whole handshake and returns both established sides and
// the messages in order.
func handshake(t testing.TB, ccfg ClientConfig, scfg ServerConfig) (*Client, *Server, [][]byte) {
	c, err := NewClient(ccfg)
	require.NoError(t, err)
	s, err := NewServer(scfg)
	require.NoError(t, err)
	m1, err := c.Open()
	require.NoError(t, err)
	m2, est, err := s.Handle(m1)
	require.NoError(t, err)
	require.False(t, est)
	m3, est, err := c.Continue(m2)
	require.NoError(t, err)
	require.True(t, est)
	out, est, err := s.Handle(m3)
	require.NoError(t, err)
	require.True(t, est)
	require.Nil(t, out)
	return c, s, [][]byte{m1, m2, m3}
}

var testApp = chanwire.AppMessage{DeviceID: []byte("device-0001"), UserID: []byte("user-42"), Custom: []byte(`{"order":"A1","amount":"12.30"}`)}
