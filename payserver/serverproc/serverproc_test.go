package serverproc

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReady(t *testing.T) {
	tests := []struct {
		line, channel, http string
		ok                  bool
	}{
		{ReadyLine("127.0.0.1:7400", "127.0.0.1:7401") + "\n", "127.0.0.1:7400", "127.0.0.1:7401", true},
		{"  ready channel=[::1]:1 http=[::1]:2 ", "[::1]:1", "[::1]:2", true},
		{"", "", "", false},
		{"listening on 127.0.0.1:7400", "", "", false},
		{"ready channel=a", "", "", false},
		{"ready channel=a http=b", "", "", false},
		{"ready channel=127.0.0.1:1 http=127.0.0.1:2 extra", "", "", false},
		{"ready http=127.0.0.1:2 channel=127.0.0.1:1", "", "", false},
		{"ready channel= http=127.0.0.1:2", "", "", false},
		{"ready channel=127.0.0.1: http=127.0.0.1:2", "", "", false},
		{"Ready channel=127.0.0.1:1 http=127.0.0.1:2", "", "", false},
	}
	for _, tt := range tests {
		c, h, err := ParseReady(tt.line)
		if !tt.ok {
			assert.ErrorIs(t, err, ErrNotReady, "%q", tt.line)
			continue
		}
		require.NoError(t, err, "%q", tt.line)
		assert.Equal(t, [2]string{tt.channel, tt.http}, [2]string{c, h})
	}
}

// sh runs a shell script as the stand-in server.
func sh(script string) *exec.Cmd { return exec.Command("/bin/sh", "-c", script) }

func TestStartStop(t *testing.T) {
	// A server that is ready, logs, and exits 0 on SIGTERM.
	p, err := Start(context.Background(), sh(`trap 'exit 0' TERM; echo "ready channel=c:1 http=h:2"; echo log >&2; while :; do sleep 0.05; done`), Options{})
	require.NoError(t, err)
	assert.Equal(t, "c:1", p.Channel)
	assert.Equal(t, "h:2", p.HTTP)
	require.Eventually(t, func() bool { return strings.Contains(p.Stderr(), "log") }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Stop(5*time.Second))
	require.NoError(t, p.Stop(5*time.Second), "again: already exited")
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name, script string
		want         string
	}{
		{"exits before ready", `echo boom >&2; exit 3`, "boom"},
		{"wrong first line", `echo hello; exit 0`, "no ready line: \"hello\\n\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(context.Background(), sh(tt.script), Options{})
			require.ErrorIs(t, err, ErrNotReady)
			assert.Contains(t, err.Error(), tt.want)
			require.NotNil(t, p, "started: returned for Stop")
			_ = p.Stop(time.Second)
		})
	}
}

// TestStopKillsAfterGrace: a server that ignores SIGTERM is killed, by
// pid, after the grace period, and Stop says so.
func TestStopKillsAfterGrace(t *testing.T) {
	p, err := Start(context.Background(), sh(`trap '' TERM; echo "ready channel=c:1 http=h:2"; while :; do sleep 0.05; done`), Options{})
	require.NoError(t, err)
	err = p.Stop(200 * time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "killed")
}

// TestNotReadyByDeadline: ctx ends the wait; the Proc is returned so the
// caller can stop it.
func TestNotReadyByDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p, err := Start(ctx, sh(`trap 'exit 0' TERM; while :; do sleep 0.05; done`), Options{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrNotReady)
	require.NoError(t, p.Stop(5*time.Second))
}

// TestStderrTail: only the last StderrTail bytes are kept; Logs gets all.
func TestStderrTail(t *testing.T) {
	var logs strings.Builder
	p, err := Start(context.Background(), sh(`printf 'aaaaaaaaaaZZZZ' >&2; exit 1`), Options{StderrTail: 4, Logs: &logs})
	require.ErrorIs(t, err, ErrNotReady)
	assert.Equal(t, "ZZZZ", p.Stderr())
	assert.Equal(t, "aaaaaaaaaaZZZZ", logs.String())
}

// FuzzParseReady: any line is a readiness line with two host:port
// addresses that ReadyLine writes back to the same addresses, or
// ErrNotReady with nothing returned; never a panic.
func FuzzParseReady(f *testing.F) {
	for _, s := range []string{
		ReadyLine("127.0.0.1:7400", "127.0.0.1:7401"), "ready channel=[::1]:1 http=[::1]:2\n",
		"", "ready", "ready channel=a http=b", "ready channel=1.2.3.4:5 http=6.7.8.9:10 x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, h, err := ParseReady(line)
		if err != nil {
			require.ErrorIs(t, err, ErrNotReady)
			require.Empty(t, c+h)
			return
		}
		c2, h2, err := ParseReady(ReadyLine(c, h))
		require.NoError(t, err)
		require.Equal(t, [2]string{c, h}, [2]string{c2, h2})
	})
}
