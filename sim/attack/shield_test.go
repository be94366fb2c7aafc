package attack

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestShieldRows runs the shield rows: each defence holds with its
// control accepted, and nothing is left bound.
func TestShieldRows(t *testing.T) {
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^shield-")
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, 5)
	for _, r := range rep.Results {
		assert.Equal(t, Rejected, r.Verdict, "%s: %s %v", r.ID, r.Observed, r.Findings)
	}
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}
