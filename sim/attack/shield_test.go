package attack

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestShieldRows runs the shield rows: each defence holds with its
// control accepted, and nothing is left bound.
func TestShieldRows(t *testing.T) {
	requireRowsRejected(t, "^shield-", 5)
}

// TestShieldRowsNeedCard: without Config.SECommand every shield row is
// ERROR naming the missing command — the rows never fall back to a card
// in the attacker's own process.
func TestShieldRowsNeedCard(t *testing.T) {
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^shield-")
	cfg.SECommand = nil
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, 5)
	for _, r := range rep.Results {
		assert.Equal(t, Inconclusive, r.Verdict, r.ID)
		assert.Contains(t, r.Observed+strings.Join(r.Findings, "\n"), "Config.SECommand is not set", r.ID)
	}
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}
