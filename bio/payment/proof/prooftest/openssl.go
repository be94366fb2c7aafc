// Package prooftest checks fpemu payment signatures with an independent
// SM2 implementation: the OpenSSL command line, running exactly the
// command docs/protocol.md shows.
package prooftest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
)

// OpenSSL returns the path of the openssl binary, skipping the test when
// there is none.
func OpenSSL(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	return p
}

// VerifyCommand is the command docs/protocol.md documents, with the file
// names it uses.
var VerifyCommand = []string{"dgst", "-sm3", "-sigopt", "distid:1234567812345678",
	"-verify", "pub.pem", "-signature", "sig.der", "body.bin"}

// Verify writes signed's body and signature and pub as PEM into a
// temporary directory and runs VerifyCommand there. It returns openssl's
// combined output and whether it exited 0 (OpenSSL prints "Verified OK").
func Verify(t testing.TB, signed []byte, pub proof.PublicKey) (string, bool) {
	t.Helper()
	bin := OpenSSL(t)
	s, err := proof.ParseSigned(signed)
	require.NoError(t, err)
	pemBytes, err := pub.PEM()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pub.pem"), pemBytes, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sig.der"), s.Signature, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "body.bin"), s.Body, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, VerifyCommand...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// SM3 returns SM3(data) as computed by `openssl dgst -sm3 -binary`.
func SM3(t testing.TB, data []byte) []byte {
	t.Helper()
	bin := OpenSSL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dgst", "-sm3", "-binary")
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	go func() { _, _ = in.Write(data); _ = in.Close() }()
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Len(t, out, proof.HashSize)
	return out
}
