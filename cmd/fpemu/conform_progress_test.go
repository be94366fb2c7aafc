package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConformLockoutProgress: LockoutExpiryTest's 31 s wait shows a
// progress line about every second on stderr (not a terminal here), and
// none on stdout, where the case lines go.
func TestConformLockoutProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 30 s lockout")
	}
	code, out, stderr := conformRun(t, shortTempDir(t), "--run", "LockoutExpiry")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	const prefix = "fpemu conform: LockoutExpiryTest: waiting out the 30 s lockout "
	lines := progressLines(stderr, "fpemu conform")
	assert.GreaterOrEqual(t, len(lines), 25, "about one a second for ~31 s:\n%s", stderr)
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, prefix), l)
	}
	require.NotEmpty(t, lines)
	assert.Regexp(t, `/31 s \(\d+%\), \d+s elapsed, 0s left, done$`, lines[len(lines)-1])
	assert.NotContains(t, out, "fpemu conform:")
	assert.Contains(t, out, "PASS  fpemu/LockoutExpiryTest")
}
