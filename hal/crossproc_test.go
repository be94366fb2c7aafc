package hal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/internal/testkit"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// childEnv turns the test binary into a device process: "ta" runs the TA
// of childEnv_ROLE (what `fpemu ta <role>` runs), "hal" the HAL process
// (what `fpemu hal` runs). It names the behaviour only, never a secret.
const childEnv = "FPEMU_HAL_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "ta":
		os.Exit(runTA())
	case "hal":
		os.Exit(runHAL())
	}
	os.Exit(m.Run())
}

func runTA() int {
	role, dir := tee.Role(os.Getenv(childEnv+"_ROLE")), os.Getenv(childEnv+"_DIR")
	if err := tas.RunTA(context.Background(), role, dir, zapcore.InfoLevel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, taproc.ErrNotLaunched) {
			return 2
		}
		return 1
	}
	return 0
}

func runHAL() int {
	opt := hal.Options{Dir: os.Getenv(childEnv + "_DIR"), LogLevel: zapcore.DebugLevel}
	if os.Getenv(childEnv+"_READY") == "1" {
		opt.Ready = os.NewFile(simdev.HALReadyFD, "ready")
	}
	if err := hal.Run(context.Background(), opt); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childCmd(mode, dir string, role tee.Role) *exec.Cmd {
	return testkit.ChildCommand(childEnv+"="+mode, childEnv+"_ROLE="+string(role), childEnv+"_DIR="+dir)
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
	pids   []int
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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
			Command: func(r tee.Role) *exec.Cmd { return childCmd("ta", dir, r) },
			Stderr:  logs,
			Restart: restart,
			Log:     zap.NewNop(),
		},
		HALCommand: func(dir string) *exec.Cmd {
			cmd := childCmd("hal", dir, "")
			cmd.Env = append(cmd.Env, childEnv+"_READY=1")
			return cmd
		},
	})
	require.NoError(t, err)
	dev := &device{dir: dir, st: st, d: st.Device, hal: st.HAL(), logs: logs}
	for _, pid := range st.PIDs() {
		dev.pids = append(dev.pids, pid)
	}
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
	for _, pid := range dev.pids {
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "pid %d still exists", pid)
	}
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
