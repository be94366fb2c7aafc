package conform

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
)

// child switches the test binary into a device process: devchild.ModeTA
// runs the TA of the child's role, devchild.ModeHAL the HAL, as `fpemu ta
// <role>` and `fpemu hal --ready-fd 4` do. It names the behaviour only.
const child devchild.Switch = "FPEMU_CONFORM_TEST_CHILD"

func TestMain(m *testing.M) {
	child.Main(m, devchild.Levels{TA: zapcore.WarnLevel, HAL: zapcore.WarnLevel})
}

// testDeviceConfig runs the device's processes as this test binary.
func testDeviceConfig() DeviceConfig {
	return DeviceConfig{TACommand: child.TACommand, HALCommand: child.HALCommand}
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
	testkit.NotRunning(t, pids)
}
