package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/ca"
)

// TestCABinary runs the whole `fpemu ca` flow through the built binary —
// init, csr with new keys, a dual issue, refusals, list, revoke, crl —
// and checks exit codes (0 ok, 1 refused, 2 usage) and outputs.
func TestCABinary(t *testing.T) {
	bin := builtFpemu(t)
	work := t.TempDir()
	exe := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = work
		return runCmd(t, cmd)
	}
	code, out, stderr := exe("ca", "init", "--dir", "ca", "--cn", "Bench Root")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "-----BEGIN CERTIFICATE-----")
	key, err := os.ReadFile(filepath.Join(work, "ca", ca.KeyFile))
	require.NoError(t, err)

	for _, k := range []string{"sign", "enc"} {
		code, _, stderr = exe("ca", "csr", "--key", k+".key", "--new-key", "--cn", "device-0001", "-o", k+".csr")
		require.Equal(t, 0, code, stderr)
	}
	code, p7, stderr := exe("ca", "issue", "--dir", "ca", "--profile", "device", "--usage", "dual",
		"--csr", "sign.csr", "--enc-csr", "enc.csr")
	require.Equal(t, 0, code, stderr)
	certs, err := ca.ParsePKCS7([]byte(p7))
	require.NoError(t, err)
	require.Len(t, certs, 3)
	assert.Equal(t, 2, strings.Count(stderr, "issued device CN=device-0001"))
	assert.NotContains(t, stderr+p7, strings.TrimSpace(string(key)[28:80]), "root key in output")

	for _, tc := range []struct {
		name string
		code int
		args []string
	}{
		{"duplicate", 1, []string{"ca", "issue", "--dir", "ca", "--profile", "device", "--csr", "sign.csr"}},
		{"subject the profile forbids", 1, []string{"ca", "issue", "--dir", "ca", "--profile", "server", "--csr", "sign.csr"}},
		{"not a request", 1, []string{"ca", "issue", "--dir", "ca", "--profile", "device", "--csr", "sign.key"}},
		{"no CA", 1, []string{"ca", "list", "--dir", "."}},
		{"unknown serial", 1, []string{"ca", "revoke", "--dir", "ca", "--serial", "0badc0de"}},
		{"unknown profile", 2, []string{"ca", "issue", "--dir", "ca", "--profile", "merchant", "--csr", "sign.csr"}},
		{"dual without --enc-csr", 2, []string{"ca", "issue", "--dir", "ca", "--profile", "device", "--usage", "dual", "--csr", "sign.csr"}},
		{"missing --csr", 2, []string{"ca", "issue", "--dir", "ca", "--profile", "device"}},
		{"--device for another profile", 2, []string{"ca", "issue", "--dir", "ca", "--profile", "device", "--device", strings.Repeat("ab", 16), "--csr", "sign.csr"}},
		{"--device not a device id", 1, []string{"ca", "issue", "--dir", "ca", "--profile", "shield", "--device", "se-01", "--csr", "sign.csr"}},
		{"bad serial", 2, []string{"ca", "revoke", "--dir", "ca", "--serial", "zz"}},
		{"bad reason", 2, []string{"ca", "revoke", "--dir", "ca", "--serial", "01", "--reason", "certificateHold"}},
		{"bad format", 2, []string{"ca", "crl", "--dir", "ca", "--format", "txt"}},
		{"existing key file", 2, []string{"ca", "csr", "--key", "sign.key", "--new-key", "--cn", "x"}},
		{"init over a CA", 1, []string{"ca", "init", "--dir", "ca"}},
	} {
		code, _, stderr := exe(tc.args...)
		assert.Equal(t, tc.code, code, "%s: %s", tc.name, stderr)
	}

	code, out, stderr = exe("ca", "list", "--dir", "ca", "--json")
	require.Equal(t, 0, code, stderr)
	var recs []ca.Record
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.Len(t, recs, 2)
	assert.Equal(t, ca.FormatSerial(certs[0].SerialNumber), recs[0].Serial)

	code, out, stderr = exe("ca", "revoke", "--dir", "ca", "--serial", recs[0].Serial, "--reason", "keyCompromise")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 2, strings.Count(out, "revoked "))
	code, out, _ = exe("ca", "list", "--dir", "ca")
	require.Equal(t, 0, code)
	assert.Equal(t, 2, strings.Count(out, "revoked(keyCompromise)"), out)

	code, out, stderr = exe("ca", "crl", "--dir", "ca")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "-----BEGIN X509 CRL-----")
}
