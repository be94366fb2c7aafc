package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	// handmadeHex is tokens/testdata/handmade.txt: challenge 0x0123456789ABCDEF,
	// user_id 0x1122334455667788, authenticator_id 0x0A0B0C0D0E0F1011,
	// FINGERPRINT, timestamp 4328719365, HMAC-SHA256 under testKeyHex.
	handmadeHex = "00efcdab8967452301887766554433221111100f0e0d0c0b0a000000020000000102030405" +
		"ec4491785d402eaa95c4527405821e8c2520205b34c81b6e2f08878e0ce81a0e"
)

type result struct {
	code           int
	stdout, stderr string
}

// fpemu runs the command tree in-process.
func fpemu(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func writeKeyFile(t *testing.T, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hat.key")
	require.NoError(t, os.WriteFile(p, content, 0o600))
	return p
}

func TestTokenDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"argument", "", []string{"token", "decode", handmadeHex}},
		{"argument with whitespace", "", []string{"token", "decode", "  " + handmadeHex + "\n"}},
		{"upper case", "", []string{"token", "decode", strings.ToUpper(handmadeHex)}},
		{"stdin", handmadeHex + "\n", []string{"token", "decode", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fpemu(t, tc.stdin, tc.args...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Empty(t, r.stderr)
			assert.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON object on one line")
			assert.JSONEq(t, `{"version":0,"challenge":81985529216486895,"user_id":1234605616436508552,
				"authenticator_id":723685415333072913,"authenticator_type":2,"authenticator_type_name":"FINGERPRINT",
				"timestamp":4328719365,"hmac":"ec4491785d402eaa95c4527405821e8c2520205b34c81b6e2f08878e0ce81a0e"}`, r.stdout)
		})
	}
}

// Integers are printed exactly over the full uint64 range (no float rounding).
func TestTokenDecodeFullRange(t *testing.T) {
	mint := fpemu(t, "", "token", "mint", "--key", testKeyHex, "--challenge", "18446744073709551615",
		"--user-id", "9223372036854775808", "--authenticator-id", "18446744073709551614",
		"--type", "any", "--timestamp", "18446744073709551615")
	require.Equal(t, 0, mint.code, mint.stderr)
	r := fpemu(t, "", "token", "decode", strings.TrimSpace(mint.stdout))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"challenge":18446744073709551615,`)
	assert.Contains(t, r.stdout, `"user_id":9223372036854775808,`)
	assert.Contains(t, r.stdout, `"authenticator_id":18446744073709551614,`)
	assert.Contains(t, r.stdout, `"authenticator_type":4294967295,"authenticator_type_name":"ANY"`)
	assert.Contains(t, r.stdout, `"timestamp":18446744073709551615,`)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m))
}

func TestTokenMint(t *testing.T) {
	keyFile := writeKeyFile(t, []byte(testKeyHex+"\n"))
	rawKeyFile := writeKeyFile(t, mustUnhex(t, testKeyHex))
	base := []string{"--challenge", "81985529216486895", "--user-id", "0x1122334455667788",
		"--authenticator-id", "723685415333072913", "--type", "fingerprint", "--timestamp", "4328719365"}
	for _, key := range [][]string{{"--key", testKeyHex}, {"--key-file", keyFile}, {"--key-file", rawKeyFile}} {
		r := fpemu(t, "", append(append([]string{"token", "mint"}, key...), base...)...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, handmadeHex+"\n", r.stdout, "mint reproduces the hand-made vector")
	}
	// HMAC-SM3 (vector from tokens/testdata/vectors.json, computed with openssl).
	r := fpemu(t, "", append([]string{"token", "mint", "--mac", "hmac-sm3", "--key", testKeyHex}, base...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasSuffix(strings.TrimSpace(r.stdout), "f1606eb6f2f025ff7ba58aaced956198c5266455d8ec4292f9309f67a3458690"), r.stdout)
}

func TestTokenVerify(t *testing.T) {
	keyFile := writeKeyFile(t, []byte(testKeyHex))
	k := []string{"--key-file", keyFile}
	verify := func(args ...string) []string { return append(append([]string{"token", "verify"}, k...), args...) }
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		wantErr string // substring of stderr
	}{
		{"MAC only", "", verify(handmadeHex), 0, ""},
		{"key on argv", "", []string{"token", "verify", "--key", testKeyHex, handmadeHex}, 0, ""},
		{"stdin", " " + handmadeHex + " \n", verify("-"), 0, ""},
		{"full policy", "", verify("--challenge", "0x0123456789ABCDEF", "--type", "password|fingerprint",
			"--sid", "1", "--sid", "723685415333072913", "--now", "4328720000", "--timeout", "30", handmadeHex), 0, ""},
		{"sid list", "", verify("--sid", "5,1234605616436508552", handmadeHex), 0, ""},

		{"wrong key", "", []string{"token", "verify", "--key", strings.Repeat("ab", 32), handmadeHex}, 1, "MAC mismatch"},
		{"wrong algorithm", "", verify("--mac", "hmac-sm3", handmadeHex), 1, "MAC mismatch"},
		{"tampered", "", verify(strings.Replace(handmadeHex, "efcdab", "efcdac", 1)), 1, "MAC mismatch"},
		{"version 1", "", verify("01" + handmadeHex[2:]), 1, "unsupported auth token version"},
		{"challenge", "", verify("--challenge", "1", handmadeHex), 1, "challenge mismatch"},
		{"type", "", verify("--type", "password", handmadeHex), 1, "authenticator type not allowed"},
		{"sid", "", verify("--sid", "1", handmadeHex), 1, "secure ID mismatch"},
		{"expired", "", verify("--now", "4328800000", "--timeout", "30", handmadeHex), 1, "expired"},
		{"future", "", verify("--now", "1000", "--timeout", "30", handmadeHex), 1, "in the future"},
		{"future with skew", "", verify("--now", "4328719000", "--timeout", "30", "--skew", "0", handmadeHex), 1, "in the future"},

		{"malformed: short", "", verify(handmadeHex[:136]), 1, "length 68 bytes, want 69"},
		{"malformed: odd", "", verify(handmadeHex[:137]), 1, "odd number of hex digits"},
		{"malformed: non-hex", "", verify("zz" + handmadeHex[2:]), 1, "not hex"},
		{"malformed: empty stdin", "", verify("-"), 1, "length 0 bytes"},
		{"malformed: huge stdin", strings.Repeat("0", 70000), verify("-"), 1, "more than 65536 bytes"},

		{"usage: no key", "", []string{"token", "verify", handmadeHex}, 2, "[key key-file]"},
		{"usage: both keys", "", verify("--key", testKeyHex, handmadeHex), 2, "key"},
		{"usage: short key", "", []string{"token", "verify", "--key", "0011", handmadeHex}, 2, "bad key in --key: 2 bytes, want 32"},
		{"usage: non-hex key", "", []string{"token", "verify", "--key", "Z" + testKeyHex[1:], handmadeHex}, 2, "bad key in --key: not hex"},
		{"usage: missing key file", "", []string{"token", "verify", "--key-file", "/nonexistent/k", handmadeHex}, 2, "bad key"},
		{"usage: bad mac", "", verify("--mac", "md5", handmadeHex), 2, "--mac"},
		{"usage: bad type", "", verify("--type", "face", handmadeHex), 2, "--type"},
		{"usage: bad sid", "", verify("--sid", "-1", handmadeHex), 2, "--sid"},
		{"usage: bad challenge", "", verify("--challenge", "x", handmadeHex), 2, "--challenge"},
		{"usage: now without timeout", "", verify("--now", "5", handmadeHex), 2, "timeout"},
		{"usage: skew without now", "", verify("--skew", "5", handmadeHex), 2, "--skew needs"},
		{"usage: no token", "", verify(), 2, "accepts 1 arg"},
		{"usage: two tokens", "", verify(handmadeHex, handmadeHex), 2, "accepts 1 arg"},
		{"usage: unknown flag", "", verify("--bogus", handmadeHex), 2, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fpemu(t, tc.stdin, tc.args...)
			require.Equal(t, tc.code, r.code, "stderr: %s", r.stderr)
			if tc.code == 0 {
				assert.Equal(t, "valid\n", r.stdout)
				assert.Empty(t, r.stderr)
				return
			}
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.wantErr)
			assert.NotContains(t, r.stderr, testKeyHex[8:], "key never echoed")
			assert.NotContains(t, r.stderr, strings.Repeat("ab", 8), "key never echoed")
			if tc.code == 1 {
				assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one-line reason: %q", r.stderr)
			}
		})
	}
}

func TestTokenDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"short", []string{"token", "decode", handmadeHex[:2]}, 1, "length 1 bytes, want 69"},
		{"long", []string{"token", "decode", handmadeHex + "00"}, 1, "length 70 bytes, want 69"},
		{"odd", []string{"token", "decode", "abc"}, 1, "odd number of hex digits"},
		{"non-hex", []string{"token", "decode", strings.Repeat("g", 138)}, 1, "not hex"},
		{"0x prefix", []string{"token", "decode", "0x" + handmadeHex}, 1, "not hex"},
		{"empty", []string{"token", "decode", ""}, 1, "length 0 bytes"},
		{"missing argument", []string{"token", "decode"}, 2, "accepts 1 arg"},
		{"unknown flag", []string{"token", "decode", "--key", testKeyHex, handmadeHex}, 2, "unknown flag: --key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fpemu(t, "", tc.args...)
			require.Equal(t, tc.code, r.code, r.stderr)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.wantErr)
		})
	}
}

func TestMintUsageErrors(t *testing.T) {
	full := []string{"--key", testKeyHex, "--challenge", "1", "--user-id", "2", "--authenticator-id", "3",
		"--type", "password", "--timestamp", "4"}
	r := fpemu(t, "", append([]string{"token", "mint"}, full...)...)
	require.Equal(t, 0, r.code, r.stderr)
	for i := 2; i < len(full); i += 2 { // drop each required flag in turn (not the key)
		args := append(append([]string{"token", "mint"}, full[:i]...), full[i+2:]...)
		r := fpemu(t, "", args...)
		assert.Equal(t, 2, r.code, "without %s", full[i])
		assert.Contains(t, r.stderr, strings.TrimPrefix(full[i], "--"))
	}
	for _, bad := range [][]string{
		{"--type", "face"}, {"--timestamp", "-1"}, {"--challenge", "18446744073709551616"}, {"--key", "00"}, {"--mac", "sha1"},
	} {
		r := fpemu(t, "", append(append([]string{"token", "mint"}, full...), bad...)...)
		assert.Equal(t, 2, r.code, "%v: %s", bad, r.stderr)
		assert.Empty(t, r.stdout)
	}
	r = fpemu(t, "", append(append([]string{"token", "mint"}, full...), "extra")...)
	assert.Equal(t, 2, r.code)
}

func TestHelpAndCommandTree(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:", "token", "Exit status"}},
		{[]string{}, []string{"Usage:", "token"}},
		{[]string{"help", "token"}, []string{"decode", "verify", "mint", "--key-file"}},
		{[]string{"token"}, []string{"decode", "verify", "mint"}},
		{[]string{"token", "--help"}, []string{"decode", "verify", "mint"}},
		{[]string{"token", "decode", "--help"}, []string{"authenticator_type_name", "HEX|-"}},
		{[]string{"token", "verify", "--help"}, []string{"--key-file", "--sid", "--timeout", "argv", "exits 1"}},
		{[]string{"token", "mint", "--help"}, []string{"--authenticator-id", "--timestamp", "argv"}},
	} {
		r := fpemu(t, "", tc.args...)
		require.Equal(t, 0, r.code, "%v: %s", tc.args, r.stderr)
		for _, w := range tc.want {
			assert.Contains(t, r.stdout, w, "%v", tc.args)
		}
	}
	for _, args := range [][]string{{"bogus"}, {"token", "bogus"}, {"--bogus"}, {"token", "decode", "--bogus", "x"}} {
		r := fpemu(t, "", args...)
		assert.Equal(t, 2, r.code, "%v", args)
		assert.Contains(t, r.stderr, "--help' for usage", "%v", args)
	}
}
