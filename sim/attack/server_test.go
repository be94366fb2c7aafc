package attack

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestServerRows runs the srv-* rows against server processes: each
// defence holds with its control booked, and nothing is left bound.
func TestServerRows(t *testing.T) {
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^srv-")
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, 8)
	for _, r := range rep.Results {
		assert.Equal(t, Rejected, r.Verdict, "%s: %s %v", r.ID, r.Observed, r.Findings)
	}
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}

// TestServerCanaries: with a server whose store skips the counter rule,
// srv-counter-rollback must say NOT REJECTED.
func TestServerCanaries(t *testing.T) {
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^srv-counter-rollback$")
	cfg.ServerCommand = serverCmd("counter")
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, NotRejected, r.Verdict, "%s: %s %v", r.ID, r.Observed, r.Findings)
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}
