package devchild

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

const sw Switch = "FPEMU_DEVCHILD_TEST_CHILD"

func TestMain(m *testing.M) {
	testkit.Main(m, string(sw), func(mode string) int {
		switch mode {
		case ModeTA:
			return RunTA(sw.Role(), sw.Dir(), zapcore.WarnLevel)
		case "env":
			fmt.Printf("%s %s\n", sw.Role(), sw.Dir())
			return ExitOK
		}
		return Exit(fmt.Errorf("unknown mode %q", mode))
	})
}

func TestExit(t *testing.T) {
	assert.Equal(t, ExitOK, Exit(nil))
	assert.Equal(t, ExitFailed, Exit(errors.New("boom")))
	assert.Equal(t, ExitNotLaunched, Exit(fmt.Errorf("start: %w", taproc.ErrNotLaunched)))
}

// TestCommand: the child sees the mode, role and directory it was started
// with; a TA started by hand, with no record on fd 3, is not launched.
func TestCommand(t *testing.T) {
	p := testkit.Start(t, sw.Command("env", tee.RoleGatekeeper, "/some/dir"))
	assert.Equal(t, "gatekeeper /some/dir", p.Line(t, 20*time.Second))
	assert.Equal(t, ExitOK, p.ExitCode(t, 10*time.Second))

	p = testkit.Start(t, sw.TACommand(testkit.ShortDir(t))(tee.RoleKeymaster))
	assert.Equal(t, ExitNotLaunched, p.ExitCode(t, 20*time.Second), p.Stderr())
	assert.Contains(t, p.Stderr(), taproc.ErrNotLaunched.Error())

	p = testkit.Start(t, sw.HALCommand(""))
	assert.Equal(t, ExitFailed, p.ExitCode(t, 20*time.Second))
	assert.Contains(t, p.Stderr(), `unknown mode "hal"`)
	testkit.NotRunning(t, map[string]int{"hal": p.PID()})
}
