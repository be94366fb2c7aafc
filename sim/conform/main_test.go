package conform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// childEnv switches the test binary into a device process: "ta" runs the
// TA of role childEnv_ROLE, "hal" the HAL, as `fpemu ta <role>` and
// `fpemu hal --ready-fd 4` do. It names the behaviour only.
const childEnv = "FPEMU_CONFORM_TEST_CHILD"

func TestMain(m *testing.M) { testkit.Main(m, childEnv, runChild) }

func runChild(mode string) int {
	dir := os.Getenv(childEnv + "_DIR")
	var err error
	switch mode {
	case "ta":
		err = tas.RunTA(context.Background(), tee.Role(os.Getenv(childEnv+"_ROLE")), dir, zapcore.WarnLevel)
		if errors.Is(err, taproc.ErrNotLaunched) {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	case "hal":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err = hal.Run(ctx, hal.Options{Dir: dir, LogLevel: zapcore.WarnLevel, Ready: os.NewFile(device.HALReadyFD, "ready")})
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childCmd(mode, dir string, role tee.Role) *exec.Cmd {
	return testkit.ChildCommand(childEnv+"="+mode, childEnv+"_DIR="+dir, childEnv+"_ROLE="+string(role))
}

// testDeviceConfig runs the device's processes as this test binary.
func testDeviceConfig() DeviceConfig {
	return DeviceConfig{
		TACommand: func(dir string) func(tee.Role) *exec.Cmd {
			return func(r tee.Role) *exec.Cmd { return childCmd("ta", dir, r) }
		},
		HALCommand: func(dir string) *exec.Cmd { return childCmd("hal", dir, "") },
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context { return testkit.Context(t, d) }

// startDevice boots a device of test-binary processes; it is closed (and
// checked to leave nothing behind) when the test ends.
func startDevice(t *testing.T) *Device {
	t.Helper()
	d, err := StartDevice(testCtx(t, 30*time.Second), testDeviceConfig())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		pids := d.PIDs()
		require.NoError(t, d.Close(ctx))
		requireGone(t, d.Dir(), pids)
	})
	return d
}

// requireGone checks that a closed device left no process or file.
func requireGone(t *testing.T, dir string, pids map[string]int) {
	t.Helper()
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "device dir %s left behind", dir)
	for role, pid := range pids {
		// Reaped children no longer exist: signal 0 fails with ESRCH.
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "%s (pid %d) still alive", role, pid)
	}
}
