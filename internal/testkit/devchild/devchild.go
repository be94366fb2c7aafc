// Package devchild is what a test binary runs when it stands in for a
// device process, so that a test boots a device without building fpemu:
// the real TA of a role (what `fpemu ta <role> --dir DIR` runs) or the
// HAL (what `fpemu hal --dir DIR --ready-fd 4` runs), and the commands
// that re-run the test binary as one.
//
// It is testkit's device half: testkit imports nothing from fpemu, this
// package imports the TA table (sim/tas) and the HAL. It is for tests
// only: no production code imports it.
package devchild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/profile"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// The modes every device child knows; a test package may add its own.
const (
	ModeTA  = "ta"  // the real TA of the child's role
	ModeHAL = "hal" // the HAL process
)

// ReadyFD is the descriptor on which a HAL child signals readiness: the
// launcher's (sim/device.HALReadyFD, which a test holds this to).
const ReadyFD = 4

// Exit codes of a device child, as fpemu's.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitNotLaunched = 2 // taproc.ErrNotLaunched: no provisioning record on fd 3
)

// Exit is the exit code of a child whose run returned err (ExitOK,
// ExitNotLaunched or ExitFailed); err, if any, goes to stderr, where the
// launcher reads why a child died.
func Exit(err error) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(os.Stderr, err)
	if errors.Is(err, taproc.ErrNotLaunched) {
		return ExitNotLaunched
	}
	return ExitFailed
}

// RunTA runs role's real TA in dir, as `fpemu ta <role> --dir dir` does,
// until SIGTERM, and returns its exit code. With profile.DirEnv set (the
// launcher's Config.ProfileDir) it writes DIR/<role>.cpu.pprof on the way
// out, as fpemu's TA does.
func RunTA(role tee.Role, dir string, level zapcore.Level) int {
	return Exit(profile.Run(profile.Dir(""), string(role), func() error {
		return tas.RunTA(context.Background(), role, dir, level)
	}))
}

// RunHAL runs the HAL process with opt, as `fpemu hal` does, until
// SIGTERM or SIGINT, and returns its exit code; with profile.DirEnv set
// it writes DIR/hal.cpu.pprof on the way out.
func RunHAL(opt hal.Options) int {
	return Exit(profile.Run(profile.Dir(""), "hal", func() error {
		return hal.Run(context.Background(), opt)
	}))
}

// Levels are the log levels of a test binary's TA and HAL children.
type Levels struct{ TA, HAL zapcore.Level }

// Main is testkit.Main for a test binary whose children are the common
// device processes: ModeTA runs the child's role's TA, ModeHAL the HAL
// (signalling readiness on ReadyFD), each in the child's directory.
func (s Switch) Main(m *testing.M, levels Levels) {
	testkit.Main(m, string(s), func(mode string) int {
		switch mode {
		case ModeTA:
			return RunTA(s.Role(), s.Dir(), levels.TA)
		case ModeHAL:
			return RunHAL(hal.Options{Dir: s.Dir(), LogLevel: levels.HAL, Ready: os.NewFile(ReadyFD, "ready")})
		}
		return Exit(fmt.Errorf("unknown child mode %q", mode))
	})
}

// Switch is the environment variable that makes a test binary a device
// child (see testkit.Main): its value is the mode; Switch_ROLE and
// Switch_DIR carry the role and the device directory. None is a secret: a
// TA's provisioning record still arrives on fd 3.
type Switch string

// Command runs the test binary as a child of mode for role in dir.
func (s Switch) Command(mode string, role tee.Role, dir string) *exec.Cmd {
	return testkit.ChildCommand(string(s)+"="+mode, string(s)+"_ROLE="+string(role), string(s)+"_DIR="+dir)
}

// TACommand is a launcher's command for the TAs of dir: the test binary
// in ModeTA for each role.
func (s Switch) TACommand(dir string) func(tee.Role) *exec.Cmd {
	return func(role tee.Role) *exec.Cmd { return s.Command(ModeTA, role, dir) }
}

// HALCommand is a launcher's command for the HAL of dir: the test binary
// in ModeHAL.
func (s Switch) HALCommand(dir string) *exec.Cmd { return s.Command(ModeHAL, "", dir) }

// Role is the role this child was started for.
func (s Switch) Role() tee.Role { return tee.Role(os.Getenv(string(s) + "_ROLE")) }

// Dir is the device directory this child was started for.
func (s Switch) Dir() string { return os.Getenv(string(s) + "_DIR") }
