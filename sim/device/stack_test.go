package device

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/profile"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// modeHAL runs the real HAL process, as `fpemu hal --ready-fd 4` does.
const modeHAL = devchild.ModeHAL

func halCommand(mode string) func(dir string) *exec.Cmd {
	return func(dir string) *exec.Cmd { return child.Command(mode, "", dir) }
}

func stackConfig(halMode string) StackConfig {
	cfg := StackConfig{
		Config: Config{
			Roles:     []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint},
			StopGrace: 2 * time.Second,
			Log:       zap.NewNop(),
		},
		TempDir:   "fps",
		TACommand: taCommand,
	}
	if halMode != "" {
		cfg.HALCommand = halCommand(halMode)
	}
	return cfg
}

// upStack brings a stack up in a temporary directory Up makes.
func upStack(t *testing.T, cfg StackConfig) (*Stack, error) {
	t.Helper()
	s, err := Up(testkit.Context(t, 30*time.Second), cfg)
	if err == nil {
		t.Cleanup(func() { _ = s.Close(context.Background()) })
	}
	return s, err
}

// gone asserts that no process of pids runs and that dir holds no socket.
func gone(t *testing.T, pids map[string]int, dir string) {
	t.Helper()
	testkit.NotRunning(t, pids)
	ents, _ := os.ReadDir(filepath.Join(dir, devdir.SockDirName))
	for _, e := range ents {
		assert.Zero(t, e.Type()&os.ModeSocket, "socket %s left", e.Name())
	}
}

// TestStackLifecycle: Up starts the TAs and the HAL; the stack lists every
// socket and pid, opens sessions and the sensor, and Close stops it all
// (the HAL first), idempotently.
func TestStackLifecycle(t *testing.T) {
	s, err := upStack(t, stackConfig(modeHAL))
	require.NoError(t, err)
	ctx := testkit.Context(t, 30*time.Second)

	socks := s.Sockets()
	assert.Equal(t, hal.SocketPath(s.Dir()), socks.HAL)
	assert.Equal(t, SensorSocketPath(s.Dir()), socks.Sensor)
	for _, r := range s.Roles() {
		assert.Equal(t, devdir.SocketPath(s.Dir(), r), socks.TAs[r])
	}
	pids := s.PIDs()
	assert.Len(t, pids, 4)
	dir := s.Dir()
	assert.Equal(t, s.HAL().PID(), pids[HALName])

	_, err = s.Session(ctx, tee.RoleGatekeeper)
	require.NoError(t, err)
	_, err = s.Session(ctx, tee.RoleKeymaster, rpc.AsUser())
	require.NoError(t, err)
	sen, err := s.Sensor(ctx)
	require.NoError(t, err)
	require.NoError(t, sen.Reset(ctx))

	require.NoError(t, s.Close(ctx))
	gone(t, pids, dir)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the temporary directory is removed")
	require.NoError(t, s.Close(ctx), "a second Close returns the first's result")
	assert.ErrorIs(t, s.OnClose(func() {}), ErrStackClosed)
}

// TestStackStopHAL: StopHAL leaves the TAs serving.
func TestStackStopHAL(t *testing.T) {
	s, err := upStack(t, stackConfig(modeHAL))
	require.NoError(t, err)
	ctx := testkit.Context(t, 30*time.Second)
	halPID := s.HAL().PID()
	require.NoError(t, s.StopHAL(ctx))
	assert.Nil(t, s.HAL())
	assert.Empty(t, s.Sockets().HAL)
	assert.ErrorIs(t, syscall.Kill(halPID, 0), syscall.ESRCH)
	_, err = s.Session(ctx, tee.RoleGatekeeper)
	require.NoError(t, err, "the TAs still serve")
	require.NoError(t, s.StopHAL(ctx), "nothing to stop")
}

// TestStackUpErrors: a failed Up leaves no process and, when it made the
// directory, no directory.
func TestStackUpErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  func() StackConfig
		want string
	}{
		{"neither Dir nor TempDir", func() StackConfig { return StackConfig{} }, "needs Dir or TempDir"},
		{"HAL crashes", func() StackConfig { return stackConfig(modeCrash) }, "start HAL"},
		{"TA crashes", func() StackConfig {
			c := stackConfig("")
			c.TACommand = func(string) func(tee.Role) *exec.Cmd {
				return func(tee.Role) *exec.Cmd { return child.Command(modeCrash, "", "") }
			}
			return c
		}, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := filepath.Glob(filepath.Join(os.TempDir(), "fps*"))
			cfg := tt.cfg()
			_, err := Up(testkit.Context(t, 30*time.Second), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			after, _ := filepath.Glob(filepath.Join(os.TempDir(), "fps*"))
			assert.ElementsMatch(t, before, after, "no temporary directory left")
		})
	}
}

// TestStackProfileDir: with Config.ProfileDir every process the launcher
// starts, the TAs and the HAL, writes a CPU profile of its life,
// ROLE.cpu.pprof, when Close stops it with SIGTERM — and stops cleanly.
func TestStackProfileDir(t *testing.T) {
	cfg := stackConfig(modeHAL)
	cfg.ProfileDir = filepath.Join(t.TempDir(), "prof")
	s, err := upStack(t, cfg)
	require.NoError(t, err)
	ctx := testkit.Context(t, 30*time.Second)
	_, err = s.Session(ctx, tee.RoleGatekeeper)
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx), "every process stops cleanly after writing its profile")
	names := []string{HALName}
	for _, r := range cfg.Roles {
		names = append(names, string(r))
	}
	for _, n := range names {
		require.NoError(t, profile.Check(profile.CPUPath(cfg.ProfileDir, n)), n)
	}
	ents, err := os.ReadDir(cfg.ProfileDir)
	require.NoError(t, err)
	assert.Len(t, ents, len(names), "one profile per process, nothing else")
}
