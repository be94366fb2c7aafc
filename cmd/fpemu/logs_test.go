package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// The logs of a whole stack (`fpemu device up`): one --log-level for every
// process, no per-poll chatter at info, one line format (issue 13).

// iso8601 is the "ts" every process writes: tee.LogEncoderConfig's
// zapcore.ISO8601TimeEncoder, milliseconds and a zone.
var iso8601 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{4})$`)

// logLine is the part of a JSON log line every process must write.
type logLine struct {
	Level     string `json:"level"`
	TS        any    `json:"ts"`
	Component string `json:"component"`
	Msg       string `json:"msg"`
}

// parseLogLines requires every line of stderr to be a JSON object with an
// ISO 8601 "ts", a "level" and exactly one non-empty "component", and
// returns them. zap writes a field added twice as a repeated key, which
// encoding/json would silently take the last of, so the keys are counted
// on the raw line (a string value cannot hold the key unescaped).
func parseLogLines(t *testing.T, stderr string) []logLine {
	t.Helper()
	var lines []logLine
	for i, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if l == "" {
			continue
		}
		var ll logLine
		require.NoError(t, json.Unmarshal([]byte(l), &ll), "line %d is not JSON: %s", i+1, l)
		ts, ok := ll.TS.(string)
		require.True(t, ok, "line %d: ts %v is not an ISO 8601 string: %s", i+1, ll.TS, l)
		require.Regexp(t, iso8601, ts, "line %d: %s", i+1, l)
		require.NotEmpty(t, ll.Component, "line %d has no component: %s", i+1, l)
		require.Equal(t, 1, strings.Count(l, `"component":`), "line %d: one component: %s", i+1, l)
		require.NotEmpty(t, ll.Level, "line %d has no level: %s", i+1, l)
		lines = append(lines, ll)
	}
	return lines
}

// TestDeviceUpLogsIdleQuietAndISO: at the default level an idle device
// writes no line at all (the HAL's NEXT_EVENT long poll and every other
// successful command are debug), and every line the whole stack writes —
// launcher, each TA, HAL — has an ISO 8601 "ts" and a "component".
func TestDeviceUpLogsIdleQuietAndISO(t *testing.T) {
	bin := builtFpemu(t)
	ctx := testkit.Context(t, 90*time.Second)
	d := startDeviceUp(t, ctx, bin, testkit.ShortDir(t))

	// Let the boot's last lines (HAL ready, relay sessions closing) land.
	time.Sleep(500 * time.Millisecond)
	before := strings.Count(d.Stderr(), "\n")
	const idle = 2500 * time.Millisecond // >12 HAL polls
	time.Sleep(idle)
	after := strings.Count(d.Stderr(), "\n")
	assert.Equal(t, before, after, "an idle device logged at info:\n%s", lastLines(d.Stderr(), after-before))

	d.interrupt(t, ctx)
	lines := parseLogLines(t, d.Stderr())
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l.Component] = true
		assert.NotEqual(t, "debug", l.Level, "a debug line at --log-level info")
	}
	for _, c := range []string{"launcher", "keymaster", "gatekeeper", "fingerprint", "payment", "hal"} {
		assert.True(t, seen[c], "no line from %s", c)
	}
}

// TestDeviceUpLogLevelReachesEveryChild: `device up --log-level L` starts
// every child with `--log-level L` (docs/protocol.md §7.8) and each obeys
// it: at debug the TAs write their per-command lines, at warn no process
// of the stack writes an info line, the HAL included.
func TestDeviceUpLogLevelReachesEveryChild(t *testing.T) {
	bin := builtFpemu(t)
	for _, level := range []string{"debug", "warn"} {
		t.Run(level, func(t *testing.T) {
			ctx := testkit.Context(t, 90*time.Second)
			d := startDeviceUp(t, ctx, bin, testkit.ShortDir(t), "--log-level", level)
			pids := map[string]int{}
			for _, p := range d.info.TAs {
				pids[p.Role] = p.PID
			}
			require.NotNil(t, d.info.HAL)
			pids["hal"] = d.info.HAL.PID
			for role, pid := range pids {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				require.NoError(t, err, role)
				argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
				require.GreaterOrEqual(t, len(argv), 2, role)
				assert.Equal(t, []string{"--log-level", level}, argv[len(argv)-2:], "%s argv %q", role, argv)
			}
			time.Sleep(time.Second) // a few HAL polls
			d.interrupt(t, ctx)

			levels := map[string]map[string]int{}
			for _, l := range parseLogLines(t, d.Stderr()) {
				if levels[l.Component] == nil {
					levels[l.Component] = map[string]int{}
				}
				levels[l.Component][l.Level]++
			}
			switch level {
			case "debug":
				for _, c := range []string{"keymaster", "gatekeeper", "fingerprint", "payment"} {
					assert.Positive(t, levels[c]["debug"], "%s wrote no debug line: %v", c, levels[c])
				}
			case "warn":
				for c, n := range levels {
					assert.Zero(t, n["info"]+n["debug"], "%s wrote below warn: %v", c, n)
				}
			}
		})
	}
}

// TestDeviceUpDurabilityReachesEveryTA: `device up --durability D` starts
// every TA with `--durability D` (default process) before its
// `--log-level`, and the HAL, which keeps no sealed store, without it
// (docs/protocol.md §7.8).
func TestDeviceUpDurabilityReachesEveryTA(t *testing.T) {
	bin := builtFpemu(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, "process"},
		{"power", []string{"--durability", "power"}, "power"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testkit.Context(t, 90*time.Second)
			d := startDeviceUp(t, ctx, bin, testkit.ShortDir(t), tc.args...)
			argvOf := func(pid int) []string {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				require.NoError(t, err)
				return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
			}
			require.Len(t, d.info.TAs, 4)
			for _, p := range d.info.TAs {
				argv := argvOf(p.PID)
				require.GreaterOrEqual(t, len(argv), 4, p.Role)
				assert.Equal(t, []string{"--durability", tc.want}, argv[len(argv)-4:len(argv)-2], "%s argv %q", p.Role, argv)
			}
			require.NotNil(t, d.info.HAL)
			assert.NotContains(t, argvOf(d.info.HAL.PID), "--durability")
			d.interrupt(t, ctx)
		})
	}
}

// lastLines is the last n lines of s, for failure messages.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if n > len(l) {
		n = len(l)
	}
	if n < 0 {
		n = 0
	}
	return strings.Join(l[len(l)-n:], "\n")
}
