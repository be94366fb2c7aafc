package channel

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/internal/testkit"
)

// needOpenSSL returns the openssl binary (testkit.NeedCommand: skipped
// without one, failed under CI=true).
func needOpenSSL(t *testing.T) string {
	return testkit.NeedCommand(t, "openssl", "the OpenSSL interop checks of docs/protocol.md §11.13")
}

func loadVectors(t *testing.T) map[string]vector {
	b, err := os.ReadFile(filepath.FromSlash(vectorsFile))
	require.NoError(t, err)
	var vs []vector
	require.NoError(t, json.Unmarshal(b, &vs))
	out := map[string]vector{}
	for _, v := range vs {
		out[v.Profile] = v
	}
	return out
}

func runOpenSSL(t *testing.T, bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, "openssl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestOpenSSLOpteeRSA: OpenSSL 3 verifies the device's RSA-PSS-SHA256
// signature on the vector's first record (openssl pkeyutl -verify) and
// decrypts its AES-256-CBC ciphertext with the vector's session key
// (openssl enc) to the recorded plaintext.
func TestOpenSSLOpteeRSA(t *testing.T) {
	bin := needOpenSSL(t)
	v := loadVectors(t)["optee-rsa"]
	dir := t.TempDir()
	k, err := x509.ParsePKCS8PrivateKey(testkit.Unhex(t, v.Keys["device_rsa_pkcs8"]))
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.(*rsa.PrivateKey).PublicKey)
	require.NoError(t, err)
	pubPEM := writeFile(t, dir, "device.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	rec, err := chanwire.ParseRecord(testkit.Unhex(t, v.Records[0].Record))
	require.NoError(t, err)
	signed, err := rec.SignedPart()
	require.NoError(t, err)
	digest := sha256.Sum256(signed)
	out := runOpenSSL(t, bin, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM,
		"-in", writeFile(t, dir, "digest.bin", digest[:]), "-sigfile", writeFile(t, dir, "sig.bin", rec.Signature),
		"-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32")
	require.Contains(t, out, "Signature Verified Successfully")

	ct := writeFile(t, dir, "ct.bin", rec.Ciphertext)
	pt, err := exec.Command(bin, "enc", "-d", "-aes-256-cbc", "-K", v.Derived["session_key"], "-iv", hex.EncodeToString(rec.IV), "-in", ct).Output()
	require.NoError(t, err)
	require.Equal(t, v.Records[0].Plaintext, hex.EncodeToString(pt))

	// and a tampered signature is refused
	bad := append([]byte{}, rec.Signature...)
	bad[10] ^= 1
	err = exec.Command(bin, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-in", filepath.Join(dir, "digest.bin"),
		"-sigfile", writeFile(t, dir, "bad.bin", bad), "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss",
		"-pkeyopt", "rsa_pss_saltlen:32").Run()
	require.Error(t, err)
}

// TestOpenSSLSM: for gm and gm-fs, OpenSSL 3 verifies the device's SM2
// signature on the first record's application message (openssl pkeyutl
// -rawin -digest sm3, default distinguishing id) and decrypts the SM4-GCM
// ciphertext with the vector's c2s key: GCM's keystream is SM4-CTR from
// the counter block nonce ‖ 00000002 (NIST SP 800-38D), so openssl enc
// -sm4-ctr recovers the plaintext (the tag is GCM's, checked by TestVectors).
func TestOpenSSLSM(t *testing.T) {
	bin := needOpenSSL(t)
	for _, name := range []string{"gm", "gm-fs"} {
		t.Run(name, func(t *testing.T) {
			v := loadVectors(t)[name]
			dir := t.TempDir()
			certDER := writeFile(t, dir, "device_sign.der", testkit.Unhex(t, v.Certs["device_sign"]))
			pubPEM := filepath.Join(dir, "device_sign.pem")
			runOpenSSL(t, bin, "x509", "-inform", "DER", "-in", certDER, "-pubkey", "-noout", "-out", pubPEM)

			rec, err := chanwire.ParseRecord(testkit.Unhex(t, v.Records[0].Record))
			require.NoError(t, err)
			pt := testkit.Unhex(t, v.Records[0].Plaintext)
			m, err := chanwire.ParseAppMessage(pt)
			require.NoError(t, err)
			content := mustMarshal(t, m.Content)
			p, _ := chanwire.ParseProfile(name)
			s := &session{profile: p, binding: testkit.Unhex(t, v.Derived["binding"])}
			signed := s.appSigned(true, rec.Seq, content)
			out := runOpenSSL(t, bin, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-digest", "sm3",
				"-pkeyopt", "distid:1234567812345678", "-in", writeFile(t, dir, "signed.bin", signed),
				"-sigfile", writeFile(t, dir, "sig.bin", m.Signature))
			require.Contains(t, out, "Signature Verified Successfully")

			iv := testkit.Unhex(t, v.Derived["c2s_iv"]) // seq 0: nonce = iv
			require.Zero(t, rec.Seq)
			ct := writeFile(t, dir, "ct.bin", rec.Ciphertext[:len(rec.Ciphertext)-chanwire.GCMTag])
			got, err := exec.Command(bin, "enc", "-d", "-sm4-ctr", "-K", v.Derived["c2s_key"], "-iv", hex.EncodeToString(iv)+"00000002", "-in", ct).Output()
			require.NoError(t, err)
			require.Equal(t, pt, got)
		})
	}
}
