package attack

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

func runSuite(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, WriteTable(&b, rep))
	t.Log("\n" + b.String())
	return rep
}

// requireRowsRejected runs the rows match (a regular expression) selects
// on a test device of testConfig: there are n of them, each says
// REJECTED (its control passed and its defence held), and nothing is
// left running or bound.
func requireRowsRejected(t *testing.T, match string, n int) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile(match)
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, n)
	for _, r := range rep.Results {
		assert.Equal(t, Rejected, r.Verdict, "%s: %s %v", r.ID, r.Observed, r.Findings)
	}
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}

// runCanary runs the one attack run (a regular expression) selects on a
// test device of testConfig changed by weaken, and checks that it reports
// a defence that did not hold: verdict want, findings, nothing left
// running or bound. It returns the report and the findings, one a line.
func runCanary(t *testing.T, run string, weaken func(*Config), want Verdict) (*Report, string) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile(run)
	weaken(&cfg)
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, want, r.Verdict, "%s %v", r.Observed, r.Findings)
	assert.False(t, r.Held)
	assert.False(t, rep.OK())
	require.NotEmpty(t, r.Findings)
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
	return rep, strings.Join(r.Findings, "\n")
}

// TestSuiteHolds runs every attack against fresh devices of the real TAs
// and HAL: every defence holds, and nothing is left running or bound.
func TestSuiteHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a device per attack")
	}
	cfg := testConfig(t)
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results, len(suite))
	for _, r := range rep.Results {
		assert.True(t, r.Held, "%s: %s: %s %v", r.ID, r.Verdict, r.Observed, r.Findings)
		assert.Equal(t, r.Verdict.Held(), r.Held)
	}
	assert.True(t, rep.OK())
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}

// TestRunInterrupted: cancelling Run (what SIGINT does in `fpemu
// attack`) in the middle of an attack ends it promptly, reports it as not
// judged, and leaves no process or socket behind.
func TestRunInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a device")
	}
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^fuzz-frames$")
	cfg.FuzzFrames = 1 << 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := filepath.Join(cfg.Dir, "fuzz-frames", "sock", "payment.sock")
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(sock); err == nil {
				time.Sleep(300 * time.Millisecond)
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start := time.Now()
	rep, err := Run(ctx, cfg)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Minute)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, Inconclusive, r.Verdict, "%s %v", r.Observed, r.Findings)
	assert.Contains(t, r.Observed, "interrupted")
	assert.False(t, rep.OK())
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}

func TestRunRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	_, err := Run(ctx, Config{})
	require.Error(t, err)
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^no-such-attack$")
	_, err = Run(ctx, cfg)
	require.ErrorIs(t, err, ErrNoAttack)
	cfg = testConfig(t)
	cfg.Dir = filepath.Join(cfg.Dir, strings.Repeat("d", 80))
	_, err = Run(ctx, cfg)
	require.ErrorIs(t, err, ErrDirTooLong)
	_, statErr := os.Stat(cfg.Dir)
	assert.ErrorIs(t, statErr, os.ErrNotExist, "nothing created")
}
