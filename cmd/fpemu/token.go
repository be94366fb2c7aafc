package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/fpemu/fpemu/tokens"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newTokenCmd) }

func newTokenCmd() *cobra.Command {
	return newGroup("token",
		"Decode, verify and mint 69-byte hw_auth_token_t auth tokens",
		`Work with Android hardware auth tokens (hw_auth_token_t, 69 bytes: version,
challenge, user_id, authenticator_id little-endian; authenticator_type and
timestamp big-endian; HMAC-SHA256 over the first 37 bytes).

Tokens are given as hex on the command line or, with "-", on stdin. Leading and
trailing whitespace is ignored; anything else that is not exactly 69 bytes of
hex is a malformed token (exit 1).

Keys (32 bytes) come from --key HEX or --key-file PATH. Prefer --key-file:
--key puts the secret in argv, where other users can see it (ps, /proc) and
shells record it in history.`,
		newTokenDecodeCmd(), newTokenVerifyCmd(), newTokenMintCmd())
}

// maxTokenInput bounds what is read from stdin for one token.
const maxTokenInput = 64 << 10

// readToken parses the token of the HEX|- argument.
func readToken(cmd *cobra.Command, arg string) (tokens.Token, error) {
	text, err := readTokenArg(cmd, arg)
	if err != nil {
		return tokens.Token{}, err
	}
	return tokens.ParseHex(text)
}

// readTokenArg returns the token text from the HEX|- argument.
func readTokenArg(cmd *cobra.Command, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxTokenInput+1))
	if err != nil {
		return "", fmt.Errorf("reading token from stdin: %w", err)
	}
	if len(b) > maxTokenInput {
		return "", &tokens.MalformedError{Len: -1, Reason: fmt.Sprintf("stdin holds more than %d bytes", maxTokenInput)}
	}
	return string(b), nil
}

// keyFlags are --key, --key-file and --mac, shared by verify and mint.
type keyFlags struct {
	keyHex  string
	keyFile string
	alg     string
}

func (k *keyFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&k.keyHex, "key", "", "32-byte MAC key as 64 hex digits (visible in argv; prefer --key-file)")
	f.StringVar(&k.keyFile, "key-file", "", "file holding the 32-byte MAC key: 32 raw bytes, or 64 hex digits")
	f.StringVar(&k.alg, "mac", tokens.HMACSHA256.String(), "MAC algorithm: hmac-sha256 (AOSP) or hmac-sm3 (GM/T)")
	cmd.MarkFlagsMutuallyExclusive("key", "key-file")
	cmd.MarkFlagsOneRequired("key", "key-file")
}

// mac builds the MAC. Every failure is a usage error whose message never
// contains key material.
func (k *keyFlags) mac() (*tokens.MAC, error) {
	alg, err := tokens.ParseMACAlgorithm(k.alg)
	if err != nil {
		return nil, usageErrorf("--mac: unknown algorithm %q (want hmac-sha256 or hmac-sm3)", k.alg)
	}
	var key []byte
	if k.keyFile != "" {
		key, err = readKeyFile(k.keyFile)
	} else {
		key, err = decodeKeyHex(k.keyHex, "--key")
	}
	if err != nil {
		return nil, usageError(err)
	}
	m, err := tokens.NewMAC(alg, key)
	clear(key)
	if err != nil {
		return nil, usageError(err)
	}
	return m, nil
}

func decodeKeyHex(s, what string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := hex.DecodeString(s)
	if err != nil {
		// Do not wrap err: hex errors quote the offending key character.
		return nil, fmt.Errorf("bad key in %s: not hex (want %d hex digits)", what, 2*tokens.KeySize)
	}
	if len(key) != tokens.KeySize {
		return nil, fmt.Errorf("bad key in %s: %d bytes, want %d (%d hex digits)", what, len(key), tokens.KeySize, 2*tokens.KeySize)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bad key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("bad key: reading %s: %w", path, err)
	}
	if len(b) == tokens.KeySize {
		return b, nil // raw key
	}
	defer clear(b)
	return decodeKeyHex(string(b), "--key-file "+path)
}

// uint64List is a repeatable uint64 flag (--sid N --sid M, or --sid N,M).
type uint64List []uint64

func (l *uint64List) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ",")
}

func (l *uint64List) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(part), 0, 64)
		if err != nil {
			return fmt.Errorf("%q is not an unsigned 64-bit integer", part)
		}
		*l = append(*l, n)
	}
	return nil
}

func (l *uint64List) Type() string { return "uint64" }

// parseTypeFlag parses --type (password|fingerprint|any|none|N, "|"-joined).
func parseTypeFlag(s string) (tokens.AuthenticatorType, error) {
	t, err := tokens.ParseAuthenticatorType(s)
	if err != nil {
		return 0, usageErrorf("--type: %v", err)
	}
	return t, nil
}
