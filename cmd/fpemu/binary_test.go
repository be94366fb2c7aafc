package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestBinary builds the real fpemu binary and checks exit codes and output
// of the README's token tour as a user would see them.
func TestBinary(t *testing.T) {
	bin := builtFpemu(t)
	exe := func(stdin string, args ...string) (int, string, string) {
		return runFpemu(t, bin, "", stdin, args...)
	}

	keyFile := writeKeyFile(t, []byte(testKeyHex+"\n"))
	code, tok, stderr := exe("", "token", "mint", "--key-file", keyFile, "--challenge", "42", "--user-id", "1001",
		"--authenticator-id", "2002", "--type", "fingerprint", "--timestamp", "5000")
	require.Equal(t, 0, code, stderr)
	require.Len(t, strings.TrimSpace(tok), 138)

	code, out, stderr := exe(tok, "token", "decode", "-")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"challenge":42,"user_id":1001,"authenticator_id":2002,"authenticator_type":2,"authenticator_type_name":"FINGERPRINT","timestamp":5000`)

	code, out, _ = exe(tok, "token", "verify", "--key-file", keyFile, "--challenge", "42", "--type", "fingerprint",
		"--sid", "1001", "--now", "6000", "--timeout", "30", "-")
	assert.Equal(t, 0, code)
	assert.Equal(t, "valid\n", out)

	code, out, stderr = exe(tok, "token", "verify", "--key-file", keyFile, "--now", "40000", "--timeout", "30", "-")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, "fpemu token verify: auth token expired: age 35000 ms exceeds timeout 30000 ms (timestamp 5000, now 40000)\n", stderr)

	code, _, stderr = exe("", "token", "decode", "abc")
	assert.Equal(t, 1, code, stderr)
	code, _, stderr = exe("", "token", "verify", "--key", "00", strings.TrimSpace(tok))
	assert.Equal(t, 2, code, stderr)
	code, _, _ = exe("", "no-such-command")
	assert.Equal(t, 2, code)
	code, out, _ = exe("", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "token")
}
