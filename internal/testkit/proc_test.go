package testkit

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runProcChild is the child of the Proc tests: "serve" writes two lines
// and serves until stopped (ParentContext), "silent" serves without a
// word until SIGTERM or SIGINT (StopContext), "die" complains on stderr
// and exits 5.
func runProcChild(mode string) int {
	switch mode {
	case "serve":
		ctx, stop := ParentContext(context.Background())
		defer stop()
		fmt.Println("READY")
		fmt.Println("second")
		<-ctx.Done()
		return 0
	case "silent":
		ctx, stop := StopContext(context.Background())
		defer stop()
		<-ctx.Done()
		return 0
	default:
		fmt.Fprintln(os.Stderr, "dying")
		return 5
	}
}

func startProc(t *testing.T, mode string) *Proc {
	return Start(t, ChildCommand(childEnv+"="+mode))
}

// TestProcStops: the child's lines come in order, and it stops cleanly on
// SIGTERM, SIGINT or when its stdin closes.
func TestProcStops(t *testing.T) {
	tests := []struct {
		name string
		stop func(t *testing.T, p *Proc, closeStdin func() error)
	}{
		{"SIGTERM", func(t *testing.T, p *Proc, _ func() error) { p.Signal(t, syscall.SIGTERM) }},
		{"SIGINT", func(t *testing.T, p *Proc, _ func() error) { p.Signal(t, syscall.SIGINT) }},
		{"stdin closed", func(t *testing.T, _ *Proc, closeStdin func() error) { require.NoError(t, closeStdin()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := ChildCommand(childEnv + "=serve")
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			p := Start(t, cmd)
			assert.Equal(t, "READY", p.Line(t, 20*time.Second))
			assert.Equal(t, "second", p.Line(t, 5*time.Second))
			tt.stop(t, p, stdin.Close)
			assert.Equal(t, 0, p.ExitCode(t, 10*time.Second))
		})
	}
}

// TestProcFailures: each way a child can let its test down fails the
// test with a message that says which, and Line names the child's
// stderr.
func TestProcFailures(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		check func(tb testing.TB, p *Proc)
		want  string
	}{
		{"dies before its line", "die", func(tb testing.TB, p *Proc) { p.Line(tb, 20*time.Second) }, "dying"},
		{"no line in time", "silent", func(tb testing.TB, p *Proc) { p.Line(tb, 100*time.Millisecond) }, "no line from child"},
		{"does not exit in time", "silent", func(tb testing.TB, p *Proc) { p.Wait(tb, 100*time.Millisecond) }, "did not exit within"},
		{"killed by a signal", "silent", func(tb testing.TB, p *Proc) {
			_ = p.Cmd.Process.Kill()
			p.ExitCode(tb, 10*time.Second)
		}, "signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProc(t, tt.mode)
			var r recordingTB
			tt.check(&r, p)
			assert.True(t, r.failed)
			require.Len(t, r.errors, 1)
			assert.Contains(t, r.errors[0], tt.want)
		})
	}
}

func TestProcExitCode(t *testing.T) {
	p := startProc(t, "die")
	assert.Equal(t, 5, p.ExitCode(t, 20*time.Second))
	assert.Equal(t, "dying\n", p.Stderr())
	<-p.Exited()
}

// TestProcCleanup: a child still running when its test ends is killed and
// reaped; NotRunning sees it gone, and sees a running process.
func TestProcCleanup(t *testing.T) {
	var pid int
	t.Run("inner", func(t *testing.T) { pid = startProc(t, "silent").PID() })
	NotRunning(t, map[string]int{"silent child": pid})

	var r recordingTB
	NotRunning(&r, map[string]int{"this test": os.Getpid()})
	assert.Equal(t, []string{fmt.Sprintf("this test (pid %d) still exists", os.Getpid())}, r.errors)
}
