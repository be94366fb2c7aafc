// Package prooftest checks fpemu payment signatures with an independent
// SM2 implementation: the OpenSSL command line, running exactly the script
// docs/protocol.md §8 shows.
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
	"github.com/fpemu/fpemu/internal/testkit"
)

// Script is the verification recipe of docs/protocol.md §8, verbatim: it
// splits signed.bin (a signed object: u32 body length, body, u16 signature
// length, DER signature) and checks the SM2 signature under pub.pem with
// SM3 and the default distinguishing identifier. Needs a POSIX shell, od,
// awk, head, tail and OpenSSL ≥ 3.0.
const Script = `n=$(od -An -tu1 -N4 signed.bin | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
tail -c +5 signed.bin | head -c "$n" > body.bin
tail -c +$((n + 7)) signed.bin > sig.der
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify pub.pem -signature sig.der body.bin`

// OpenSSL returns the path of the openssl binary (testkit.NeedCommand:
// skipped without one, failed under CI=true).
func OpenSSL(t testing.TB) string {
	t.Helper()
	return testkit.NeedCommand(t, "openssl", "the OpenSSL signature checks of docs/protocol.md §8")
}

// Verify writes signed as signed.bin and pub as pub.pem into a temporary
// directory and runs Script there. It returns the combined output and
// whether the script exited 0 (OpenSSL prints "Verified OK").
func Verify(t testing.TB, signed []byte, pub proof.PublicKey) (string, bool) {
	t.Helper()
	OpenSSL(t)
	pemBytes, err := pub.PEM()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pub.pem"), pemBytes, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "signed.bin"), signed, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-ec", Script)
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
