package hal_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// child turns the test binary into a device process: devchild.ModeTA runs
// the TA of the child's role (what `fpemu ta <role>` runs),
// devchild.ModeHAL the HAL process (what `fpemu hal --ready-fd 4` runs).
const child devchild.Switch = "FPEMU_HAL_TEST_CHILD"

func TestMain(m *testing.M) {
	child.Main(m, devchild.Levels{TA: zapcore.InfoLevel, HAL: zapcore.DebugLevel})
}

// device is a booted device (a sim/device Stack: the TAs and the HAL
// process) with a client on the HAL.
type device struct {
	dir    string
	st     *simdev.Stack
	d      *simdev.Device // st's launcher
	hal    *simdev.HAL
	client *halclient.Client
	logs   *testkit.Buffer
	pids   map[string]int // every process of the device, by name
}

func testCtx(t *testing.T) context.Context { return testkit.Context(t, 30*time.Second) }

func shortDir(t *testing.T) string { return testkit.ShortDir(t) }

// bootDevice brings up a Stack of roles (default: keymaster, gatekeeper
// and the fingerprint TA) and the HAL process, each a child process, and
// dials the HAL. Cleanup closes the stack and checks that no process and
// no socket is left.
func bootDevice(t *testing.T, restart simdev.RestartPolicy, roles ...tee.Role) *device {
	t.Helper()
	dir := shortDir(t)
	logs := &testkit.Buffer{}
	if len(roles) == 0 {
		roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}
	}
	st, err := simdev.Up(testCtx(t), simdev.StackConfig{
		Config: simdev.Config{
			Dir:     dir,
			Roles:   roles,
			Command: child.TACommand(dir),
			Stderr:  logs,
			Restart: restart,
			Log:     zap.NewNop(),
		},
		HALCommand: child.HALCommand,
	})
	require.NoError(t, err)
	dev := &device{dir: dir, st: st, d: st.Device, hal: st.HAL(), logs: logs, pids: st.PIDs()}
	t.Cleanup(func() { dev.shutdown(t) })
	dev.client, err = halclient.Dial(testCtx(t), dev.hal.SocketPath())
	require.NoError(t, err)
	return dev
}

func (dev *device) shutdown(t *testing.T) {
	if dev.client != nil {
		dev.client.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := dev.st.Close(ctx); err != nil {
		t.Logf("stack close: %v\nHAL stderr: %s", err, dev.hal.Stderr())
	}
	testkit.NotRunning(t, dev.pids)
	entries, _ := os.ReadDir(dev.dir + "/sock")
	assert.Empty(t, entries, "sockets left behind")
}

// count returns how many log lines of component mention msg.
func count(logs, component, msg string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"component":"`+component+`"`) && strings.Contains(l, msg) {
			n++
		}
	}
	return n
}
