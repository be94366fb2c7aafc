package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
)

// TestServerFactorsFlags: --otp-key is 32 hex digits in an owner-only
// file; --policy is a valid policy file; --otp-algorithm one of three.
func TestServerFactorsFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	pol := write("p.txt", string(policy.Seed003Example), 0o644)
	key := write("k", "00112233445566778899aabbccddeeff\n", 0o600)
	f, err := serverFactors(pol, "standard", key, "sm3")
	require.NoError(t, err)
	assert.NotNil(t, f.Policy)
	assert.NotNil(t, f.Sealer)
	assert.Equal(t, otp.SM3, f.OTPParams.Algorithm)

	for name, c := range map[string]struct{ pol, key, alg string }{
		"group-readable key": {"", write("k2", "00112233445566778899aabbccddeeff", 0o640), "sm3"},
		"short key":          {"", write("k3", "0011", 0o600), "sm3"},
		"not hex":            {"", write("k4", "zz112233445566778899aabbccddeeff", 0o600), "sm3"},
		"bad policy":         {write("p2", "fpemu-policy 9\n", 0o644), "", "sm3"},
		"bad algorithm":      {"", "", "md5"},
	} {
		_, err := serverFactors(c.pol, "standard", c.key, c.alg)
		require.Error(t, err, name)
		var ee *exitError
		require.ErrorAs(t, err, &ee, name)
		assert.Equal(t, exitUsage, ee.code, name)
	}
}
