package ca

import (
	"context"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// needOpenSSL returns the openssl binary (testkit.NeedCommand: skipped
// without one, failed under CI=true).
func needOpenSSL(t *testing.T) string {
	return testkit.NeedCommand(t, "openssl", "the OpenSSL interop checks of the CA section of docs/protocol.md")
}

func openssl(t *testing.T, bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestOpenSSLInterop: OpenSSL 3 accepts what the CA and NewCSR make —
// the request's self-signature (req -verify), each issued certificate's
// chain to the root (verify -CAfile), the PKCS#7 bundle in PEM and DER
// (pkcs7 -print_certs), the CRL's form (crl -text) and its signature
// (pkeyutl over tbsCertList: see below) — and refuses a tampered request,
// certificate and CRL and a CRL checked with another root's key, so each
// check can fail.
func TestOpenSSLInterop(t *testing.T) {
	bin := needOpenSSL(t)
	ctx := context.Background()
	// the real clock: OpenSSL checks validity against it
	c, err := Init(filepath.Join(t.TempDir(), "ca"), InitOptions{})
	require.NoError(t, err)
	defer c.Close()
	dir := t.TempDir()
	root := writeTestFile(t, dir, "root.pem", c.RootPEM())

	_, sreq := csrFor(t, CSRTemplate{CommonName: "pay.fpemu.test", DNSNames: []string{"localhost"}})
	_, ereq := csrFor(t, CSRTemplate{CommonName: "pay.fpemu.test", DNSNames: []string{"localhost"}})
	csrPath := writeTestFile(t, dir, "sign.csr", EncodeCSR(sreq))
	var out string
	out, err = openssl(t, bin, "req", "-verify", "-noout", "-vfyopt", sm2ID, "-in", csrPath)
	require.NoError(t, err, out)
	assert.Contains(t, out, "verify OK")
	badReq := append([]byte(nil), sreq...)
	badReq[len(badReq)-5] ^= 1 // inside the signature
	out, err = openssl(t, bin, "req", "-verify", "-noout", "-vfyopt", sm2ID, "-in", writeTestFile(t, dir, "bad.csr", EncodeCSR(badReq)))
	// OpenSSL 3.0's req -verify reports a bad signature on stdout but exits 0
	assert.NotContains(t, out, "verify OK", err)
	assert.Contains(t, out, "verify failure")

	is, err := c.Issue(ctx, Request{CSR: sreq, EncCSR: ereq, Profile: ProfileServer, Usage: UsageDual})
	require.NoError(t, err)
	for i, cert := range is.Certs {
		leaf := writeTestFile(t, dir, "leaf.pem", Record{DER: cert.Raw}.PEM())
		out, err := openssl(t, bin, "verify", "-vfyopt", sm2ID, "-CAfile", root, leaf)
		require.NoError(t, err, "cert %d: %s", i, out)
		assert.Contains(t, out, "leaf.pem: OK")
	}
	bad := append([]byte(nil), is.Certs[0].Raw...)
	bad[len(bad)-10] ^= 1 // inside the signature
	out, err = openssl(t, bin, "verify", "-vfyopt", sm2ID, "-CAfile", root, writeTestFile(t, dir, "bad.pem", Record{DER: bad}.PEM()))
	require.Error(t, err, out)

	p7, err := is.PKCS7()
	require.NoError(t, err)
	out, err = openssl(t, bin, "pkcs7", "-print_certs", "-noout", "-in", writeTestFile(t, dir, "resp.p7b", EncodePKCS7(p7)))
	require.NoError(t, err, out)
	assert.Equal(t, 3, strings.Count(out, "subject="), out)
	assert.Contains(t, out, "CN = pay.fpemu.test")
	assert.Contains(t, out, "CN = fpemu root CA")
	out, err = openssl(t, bin, "pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in", writeTestFile(t, dir, "resp.der", p7))
	require.NoError(t, err, out)

	_, err = c.Revoke(ctx, is.Certs[0].SerialNumber, ReasonKeyCompromise)
	require.NoError(t, err)
	crl, err := c.CRL(ctx, 0)
	require.NoError(t, err)
	crlPath := writeTestFile(t, dir, "ca.crl", EncodeCRL(crl))
	out, err = openssl(t, bin, "crl", "-in", crlPath, "-noout", "-text")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Signature Algorithm: SM2-with-SM3")
	assert.Contains(t, out, "Key Compromise")
	for _, cert := range is.Certs {
		assert.Contains(t, out, "Serial Number: "+strings.ToUpper(FormatSerial(cert.SerialNumber)))
	}
	// OpenSSL 3.0's crl and verify commands check a CRL's SM2 signature
	// with an empty distinguishing identifier and take no -vfyopt for it,
	// so the signature (made with the default ID, GB/T 35276) is checked
	// with pkeyutl over the CRL's tbsCertList.
	rl, err := smx509.ParseRevocationList(crl)
	require.NoError(t, err)
	rootPub := writeTestFile(t, dir, "root.pub", pubPEM(t, c.Root()))
	verifyCRL := func(pub string, tbs []byte) (string, error) {
		return openssl(t, bin, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
			"-pkeyopt", sm2ID, "-in", writeTestFile(t, dir, "tbs.bin", tbs), "-sigfile", writeTestFile(t, dir, "sig.bin", rl.Signature))
	}
	out, err = verifyCRL(rootPub, rl.RawTBSRevocationList)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Signature Verified Successfully")
	other := newTestCA(t)
	out, err = verifyCRL(writeTestFile(t, dir, "other.pub", pubPEM(t, other.Root())), rl.RawTBSRevocationList)
	require.Error(t, err, out)
	tampered := append([]byte(nil), rl.RawTBSRevocationList...)
	tampered[len(tampered)-1] ^= 1
	out, err = verifyCRL(rootPub, tampered)
	require.Error(t, err, out)
}

// sm2ID is the SM2 default distinguishing identifier (GB/T 35276 /
// GM/T 0009 "1234567812345678") that OpenSSL 3.0 needs spelled out to
// check an SM2 signature on a request or certificate.
const sm2ID = "distid:1234567812345678"

func pubPEM(t *testing.T, c *smx509.Certificate) []byte {
	der, err := smx509.MarshalPKIXPublicKey(c.PublicKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
