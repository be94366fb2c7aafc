// Package chantest plays the payment server's side of the secure channel
// for tests: a test CA, the server's dual SM2 certificates and RSA key,
// the trust anchors a payment TA is provisioned with, and the registration
// of a TA's channel keys (docs/protocol.md §11).
package chantest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee/rpc"
)

// ServerName is the payment server's name in its certificates and the
// trust anchors.
const ServerName = "pay.fpemu.test"

// The key usages of the two SM2 certificates of each side.
const (
	SignUsage = smx509.KeyUsageDigitalSignature
	EncUsage  = smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment
)

// CA is a test CA: a self-signed SM2 root valid from an hour ago for a day.
type CA struct {
	Key    *sm2.PrivateKey
	Cert   *smx509.Certificate
	Roots  *smx509.CertPool // holding Cert only
	serial int64
}

// NewCA makes a CA with a fresh key.
func NewCA(t testing.TB) *CA {
	t.Helper()
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
	return &CA{Key: key, Cert: c, Roots: roots, serial: 1}
}

// Issue returns the DER of a certificate for pub under cn with usage.
func (ca *CA) Issue(t testing.TB, cn string, pub any, usage smx509.KeyUsage) []byte {
	t.Helper()
	ca.serial++
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: usage}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	require.NoError(t, err)
	return der
}

// FromCSR issues the certificate a CSR asks for (its CN and key), after
// checking the CSR's signature.
func (ca *CA) FromCSR(t testing.TB, csrDER []byte, usage smx509.KeyUsage) []byte {
	t.Helper()
	csr, err := smx509.ParseCertificateRequest(csrDER)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	return ca.Issue(t, csr.Subject.CommonName, csr.PublicKey, usage)
}

// Server is the payment server's keys: its CA, its dual SM2 credentials
// under ServerName and its RSA key (profile OPTEE-RSA).
type Server struct {
	CA    *CA
	Creds *channel.SM2Credentials
	RSA   *rsa.PrivateKey
}

// NewServer makes a CA and the server's keys and certificates.
func NewServer(t testing.TB) *Server {
	t.Helper()
	ca := NewCA(t)
	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	x, err := channel.NewKeyExchanger(ek)
	require.NoError(t, err)
	sc, err := smx509.ParseCertificate(ca.Issue(t, ServerName, sk.Public(), SignUsage))
	require.NoError(t, err)
	ec, err := smx509.ParseCertificate(ca.Issue(t, ServerName, ek.Public(), EncUsage))
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return &Server{CA: ca, Creds: &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x, Decrypter: ek}, RSA: rk}
}

// Anchors returns the trust anchors a payment TA is provisioned with: the
// server's name, the CA and the RSA public key.
func (s *Server) Anchors(t testing.TB) []byte {
	t.Helper()
	pub, err := x509.MarshalPKIXPublicKey(&s.RSA.PublicKey)
	require.NoError(t, err)
	b, err := payproto.TrustAnchors{ServerName: ServerName, Roots: [][]byte{s.CA.Cert.Raw}, RSAServer: pub}.Marshal()
	require.NoError(t, err)
	return b
}

// Config is the channel.ServerConfig of these keys for profiles ps.
func (s *Server) Config(ps ...chanwire.Profile) channel.ServerConfig {
	return channel.ServerConfig{Profiles: ps, Credentials: s.Creds, Roots: s.CA.Roots, RSA: &channel.RSAServerKeys{Key: s.RSA}}
}

// Channel returns a channel.Server of these keys for profiles ps.
func (s *Server) Channel(t testing.TB, ps ...chanwire.Profile) *channel.Server {
	t.Helper()
	srv, err := channel.NewServer(s.Config(ps...))
	require.NoError(t, err)
	return srv
}

// Provision registers a payment TA's channel keys on inv: CHANNEL_KEY for
// each SM2 kind, its CSR issued by the CA and installed, and CHANNEL_KEY
// for the RSA key.
func (s *Server) Provision(ctx context.Context, t testing.TB, inv rpc.Invoker) {
	t.Helper()
	for kind, usage := range map[payproto.ChannelKeyKind]smx509.KeyUsage{payproto.ChannelKeySign: SignUsage, payproto.ChannelKeyEnc: EncUsage} {
		csr, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NoError(t, payproto.InstallChannelCert{Kind: kind, DER: s.CA.FromCSR(t, csr, usage)}.Execute(ctx, inv))
	}
	_, err := payproto.ChannelKey{Kind: payproto.ChannelKeyRSA}.Execute(ctx, inv)
	require.NoError(t, err)
}
