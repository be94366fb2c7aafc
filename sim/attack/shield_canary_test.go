package attack

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/se/keyshare"
)

// cachingCombine is a key-share double that skips the share count once
// it has seen enough: the first recombination with k shares caches the
// key in dir (the app sandbox, as a middleware "saving time" would), and later opens with fewer shares use the cache.
func cachingCombine(dir string) func([]keyshare.Share, [keyshare.SerialSize]byte) ([]byte, error) {
	cache := filepath.Join(dir, "sm.key")
	return func(shares []keyshare.Share, serial [keyshare.SerialSize]byte) ([]byte, error) {
		key, err := keyshare.Combine(shares, serial)
		if errors.Is(err, keyshare.ErrTooFew) {
			if b, rerr := os.ReadFile(cache); rerr == nil {
				return b, nil
			}
		}
		if err == nil {
			_ = os.WriteFile(cache, key, 0o600)
		}
		return key, err
	}
}

// TestShieldCanaries: each shield row reports NOT REJECTED, naming what
// got through, against a card or key-share double without its defence:
// a card without a PIN retry counter, one that does not check the
// server's signature against the pinned certificate (two rows), one
// that answers a repeated protected APDU from a retransmission cache
// without the send sequence counter, and a combiner that skips the
// share count once it has cached the key.
func TestShieldCanaries(t *testing.T) {
	// A weakened card is the card process in a canary mode of the test
	// binary (se_child_test.go), so the REE still reaches it only in
	// APDUs over its socket.
	weakCard := func(w string) func(*Config) {
		return func(cfg *Config) { cfg.SECommand = seCmd(w) }
	}
	for _, tc := range []struct {
		name, run string
		weaken    func(*Config)
		finding   string
	}{
		{"card without a PIN retry counter", "^shield-pin-brute$", weakCard("no-pin-lock"),
			"right PIN after 6 failures: accepted"},
		{"card that signs a phishing server's random", "^shield-phishing-login$", weakCard("no-server-check"),
			"random signed by another key → card: accepted"},
		{"card that signs a pre-submit under another's server signature", "^shield-other-presubmit$", weakCard("no-server-check"),
			"B under A's server signature → card: accepted"},
		{"card with a retransmission cache", "^shield-sm-replay$", weakCard("no-sm-replay-check"),
			"replayed VERIFY: accepted (9000)"},
		{"key shares with a cached key", "^shield-few-shares$", func(cfg *Config) {
			cfg.ShieldCombine = cachingCombine(t.TempDir())
		}, "one share of 2-of-3 → middleware: accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, tc.weaken, NotRejected)
			assert.Contains(t, findings, tc.finding)
		})
	}
}
