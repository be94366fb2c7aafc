package attack

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestFactorRows runs the factor-* rows against server processes with the
// example policy: each defence holds with its control booked, and
// nothing is left bound.
func TestFactorRows(t *testing.T) {
	requireRowsRejected(t, "^factor-", 3)
}

// TestFactorCanaries: with a server that runs without its policy,
// factor-strip must say NOT REJECTED; with a store that forgets the last
// accepted one-time-code step, factor-otp-replay and factor-otp-stale
// must.
func TestFactorCanaries(t *testing.T) {
	for _, tc := range []struct{ weakening, rows string }{
		{"no-policy", "^factor-strip$"},
		{"otp-forget", "^factor-otp-(replay|stale)$"},
	} {
		t.Run(tc.weakening, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Match = regexp.MustCompile(tc.rows)
			cfg.ServerCommand = serverCmd(tc.weakening)
			rep := runSuite(t, cfg)
			require.NotEmpty(t, rep.Results)
			for _, r := range rep.Results {
				assert.Equal(t, NotRejected, r.Verdict, "%s: %s %v", r.ID, r.Observed, r.Findings)
				assert.Contains(t, strings.Join(r.Findings, "\n"), ": booked", "%s: the weakened server booked a probe", r.ID)
			}
			assert.Empty(t, testkit.Leftovers(cfg.Dir))
		})
	}
}
