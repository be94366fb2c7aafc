package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/attack"
)

// TestAttackProgress: on a stderr that is not a terminal, attack writes
// progress lines (rows done of total, the attack running) there, never on
// stdout; with --json they are off, and stdout holds only the JSON rows.
func TestAttackProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	t.Setenv(asFpemu, "1") // the TA and HAL children are this test binary
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	fastProgress(t)
	dir := shortTempDir(t)
	const sel = "^(bio-replay|hat-replay)$"

	var stdout, stderr bytes.Buffer
	code := run([]string{"attack", "--run", sel, "--dir", dir}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout %s\nstderr %s", &stdout, &stderr)
	lines := progressLines(stderr.String(), "fpemu attack")
	require.NotEmpty(t, lines, stderr.String())
	line := regexp.MustCompile(`^fpemu attack: ([012])/2 attacks \(\d+%\), \d+s elapsed(, about \d+s left)?(; running (hat-replay|bio-replay)|, done)$`)
	seen := map[string]bool{}
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, l)
		seen[m[1]+m[4]] = true
	}
	assert.True(t, seen["0hat-replay"], "the first row running: %q", lines)
	assert.True(t, seen["1bio-replay"], "the second row running: %q", lines)
	assert.Regexp(t, `2/2 attacks \(100%\), \d+s elapsed, done$`, lines[len(lines)-1])
	// the per-row result lines are still there, whole
	assert.Regexp(t, `(?m)^hat-replay\s+rejected \(\d+\.\d s\)$`, stderr.String())
	assert.NotContains(t, stdout.String(), "fpemu attack:")
	assert.Empty(t, testkit.Leftovers(dir))

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"attack", "--run", sel, "--json", "--dir", dir}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout %s\nstderr %s", &stdout, &stderr)
	assert.Empty(t, stderr.String(), "--json: quiet")
	rows := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, rows, 2)
	for _, row := range rows {
		var r attack.Result
		require.NoError(t, json.Unmarshal([]byte(row), &r), row)
	}
}

// TestAttackLogs: with --logs, the harness's own log lines
// (attack.Config.Log) reach stderr as JSON from --log-level, each with one
// component and the attack's ID, whole lines between the row lines;
// without, stderr holds none (TestAttackProgress's --json run, where the
// launcher reports the payment TA bio-replay kills as an error).
func TestAttackLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	t.Setenv(asFpemu, "1") // the TA and HAL children are this test binary
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	dir := shortTempDir(t)

	var stdout, stderr bytes.Buffer
	code := run([]string{"attack", "--run", "^hat-replay$", "--dir", dir, "--progress=false", "--logs", "--log-level", "info"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout %s\nstderr %s", &stdout, &stderr)
	var logs bytes.Buffer
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(l, "{") {
			logs.WriteString(l + "\n")
		} else {
			rows = append(rows, l)
		}
	}
	require.NotZero(t, testkit.RequireOneComponent(t, logs.Bytes()), stderr.String())
	components := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line struct{ Component, Attack, Level string }
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		assert.Equal(t, "hat-replay", line.Attack, l)
		assert.NotEqual(t, "debug", line.Level, l)
		components[line.Component] = true
	}
	assert.True(t, components["launcher"], "the launcher's lines: %s", &logs)
	require.Len(t, rows, 1, stderr.String())
	assert.Regexp(t, `^hat-replay\s+rejected \(\d+\.\d s\)$`, rows[0])
	assert.Empty(t, testkit.Leftovers(dir))
}
