package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// testCA is an SM2 certificate authority for the --trust-anchors tests.
type testCA struct {
	key  *sm2.PrivateKey
	cert *smx509.Certificate
	n    int64
}

func newTestCA(t *testing.T, isCA bool) *testCA {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fpemu test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{key: key, cert: cert, n: 1}
}

func (ca *testCA) issue(t *testing.T, cn string, pub any, usage smx509.KeyUsage) *smx509.Certificate {
	t.Helper()
	ca.n++
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: usage}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	require.NoError(t, err)
	c, err := smx509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// writeAnchors writes a payproto.TrustAnchors file and returns its path.
func writeAnchors(t *testing.T, a payproto.TrustAnchors) string {
	t.Helper()
	b, err := a.Marshal()
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "anchors.bin")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestDeviceUpTrustAnchorsRefused: a --trust-anchors file the payment TA
// would not start with is a usage error (exit 2) that says what is wrong,
// before anything boots.
func TestDeviceUpTrustAnchorsRefused(t *testing.T) {
	notCA := newTestCA(t, false)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	require.NoError(t, err)
	garbage := filepath.Join(t.TempDir(), "garbage.bin")
	require.NoError(t, os.WriteFile(garbage, []byte("not anchors"), 0o600))
	empty := filepath.Join(t.TempDir(), "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	tests := []struct {
		name, file, want string
	}{
		{"missing file", filepath.Join(t.TempDir(), "none.bin"), "no such file"},
		{"empty file", empty, "empty"},
		{"not the wire form", garbage, "version"},
		{"a root that is not a CA", writeAnchors(t, payproto.TrustAnchors{ServerName: "pay.fpemu.test", Roots: [][]byte{notCA.cert.Raw}}), "root 0 is not a CA certificate"},
		{"an RSA key under 2048 bits", writeAnchors(t, payproto.TrustAnchors{RSAServer: smallDER}), "RSA-2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shortTempDir(t), "dev")
			var out, errb bytes.Buffer
			code := run([]string{"device", "up", "--dir", dir, "--trust-anchors", tc.file}, strings.NewReader(""), &out, &errb)
			assert.Equal(t, exitUsage, code, errb.String())
			assert.Contains(t, errb.String(), "--trust-anchors")
			assert.Contains(t, errb.String(), tc.want)
			assert.NoDirExists(t, dir, "nothing booted")
		})
	}
}

// TestDeviceUpTrustAnchors: `fpemu device up --trust-anchors FILE` hands
// the file to the running device's payment TA: it installs a channel
// certificate of the file's CA and refuses one of another CA, and its
// gm-fs handshake completes with a server certified by the file's CA under
// the file's server name.
func TestDeviceUpTrustAnchors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ca, other := newTestCA(t, true), newTestCA(t, true)
	const serverName = "pay.fpemu.test"
	file := writeAnchors(t, payproto.TrustAnchors{ServerName: serverName, Roots: [][]byte{ca.cert.Raw}})
	bin := fpemuBin.Path(t)
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir, "--no-hal", "--trust-anchors", file)
	defer up.interrupt(t, ctx)

	c, err := rpc.Dial(ctx, filepath.Join(dir, "sock", string(tee.RolePayment)+".sock"))
	require.NoError(t, err)
	defer c.Close()
	u, err := tee.UUIDOf(tee.RolePayment)
	require.NoError(t, err)
	pay, err := c.OpenSession(ctx, u, nil, rpc.AsUser())
	require.NoError(t, err)

	usages := map[payproto.ChannelKeyKind]smx509.KeyUsage{
		payproto.ChannelKeySign: smx509.KeyUsageDigitalSignature,
		payproto.ChannelKeyEnc:  smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment,
	}
	for _, kind := range []payproto.ChannelKeyKind{payproto.ChannelKeySign, payproto.ChannelKeyEnc} {
		der, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, pay)
		require.NoError(t, err)
		csr, err := smx509.ParseCertificateRequest(der)
		require.NoError(t, err)
		foreign := other.issue(t, csr.Subject.CommonName, csr.PublicKey, usages[kind])
		require.ErrorIs(t, payproto.InstallChannelCert{Kind: kind, DER: foreign.Raw}.Execute(ctx, pay), payproto.ErrBadCertificate,
			"a certificate of a CA the file does not name")
		require.NoError(t, payproto.InstallChannelCert{Kind: kind, DER: ca.issue(t, csr.Subject.CommonName, csr.PublicKey, usages[kind]).Raw}.Execute(ctx, pay))
	}

	sk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ek, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	x, err := channel.NewKeyExchanger(ek)
	require.NoError(t, err)
	creds := &channel.SM2Credentials{Signer: sk, Exchange: x,
		SignCert: ca.issue(t, serverName, sk.Public(), smx509.KeyUsageDigitalSignature),
		EncCert:  ca.issue(t, serverName, ek.Public(), smx509.KeyUsageKeyAgreement|smx509.KeyUsageKeyEncipherment)}
	pool := smx509.NewCertPool()
	pool.AddCert(ca.cert)
	srv, err := channel.NewServer(channel.ServerConfig{Credentials: creds, Roots: pool})
	require.NoError(t, err)
	h, m1, err := payproto.OpenChannel{Profile: chanwire.ProfileGMFS}.Execute(ctx, pay)
	require.NoError(t, err)
	m2, _, err := srv.Handle(m1)
	require.NoError(t, err)
	m3, est, err := payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, pay)
	require.NoError(t, err)
	require.True(t, est)
	_, est, err = srv.Handle(m3)
	require.NoError(t, err)
	assert.True(t, est)
}
