package attack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
)

// childEnv makes the test binary act as `fpemu ta <role> --dir DIR`,
// `fpemu hal --dir DIR --ready-fd 4`, `fpemu server …` or `fpemu se --dir
// DIR --socket PATH`, so devices, servers and cards run without building
// the binary. Its value is a mode, never a secret.
const childEnv = "FPEMU_ATTACK_TEST_CHILD"

func TestMain(m *testing.M) {
	testkit.Main(m, childEnv, func(string) int { return runChild(os.Args[1:]) })
}

func runChild(args []string) int {
	ctx := context.Background()
	var err error
	if w, ok := serverChildMode(args); ok {
		return devchild.Exit(runServerChild(args[1:], w))
	}
	if w, dir, sock, ok := seChildMode(args); ok {
		return devchild.Exit(runSEChild(w, dir, sock))
	}
	switch {
	case len(args) == 4 && args[0] == "ta" && args[1] == string(tee.RoleFingerprint) && args[2] == "--dir":
		err = runFingerprintTA(ctx, args[3])
	case len(args) == 4 && args[0] == "ta" && args[2] == "--dir":
		err = tas.RunTA(ctx, tee.Role(args[1]), args[3], zapcore.WarnLevel)
	case len(args) == 5 && args[0] == "ta-weakened" && args[3] == "--dir":
		err = tas.RunWeakenedTA(ctx, tee.Role(args[2]), args[4], zapcore.WarnLevel, tas.Weakening(args[1]))
	case len(args) == 5 && args[0] == "hal" && args[1] == "--dir" && args[3] == "--ready-fd":
		err = hal.Run(ctx, hal.Options{Dir: args[2], LogLevel: zapcore.WarnLevel, Ready: os.NewFile(devchild.ReadyFD, "ready")})
	case len(args) == 6 && args[0] == "hal" && args[5] == "--unbounded-callbacks":
		// A canary double: a HAL that buffers callbacks without a bound.
		err = hal.Run(ctx, hal.Options{Dir: args[2], LogLevel: zapcore.WarnLevel, Ready: os.NewFile(devchild.ReadyFD, "ready"), CallbackBuffer: 1 << 24})
	default:
		err = fmt.Errorf("unexpected child arguments %q", args)
	}
	return devchild.Exit(err)
}

// childCmd runs the test binary as an fpemu child process.
func childCmd(args ...string) *exec.Cmd {
	return testkit.Command(args, childEnv+"=1")
}

// shortDir is a temporary directory short enough for socket paths.
func shortDir(t *testing.T) string { return testkit.ShortDir(t) }

// testConfig runs devices of test-binary children in a fresh directory.
func testConfig(t *testing.T) Config {
	return Config{
		Dir: shortDir(t),
		TACommand: func(dir string) func(tee.Role) *exec.Cmd {
			return func(role tee.Role) *exec.Cmd { return childCmd("ta", string(role), "--dir", dir) }
		},
		HALCommand: func(dir string) *exec.Cmd {
			return childCmd("hal", "--dir", dir, "--ready-fd", fmt.Sprint(simdev.HALReadyFD))
		},
		ServerCommand: serverCmd(""),
		SECommand:     seCmd(""),
	}
}
