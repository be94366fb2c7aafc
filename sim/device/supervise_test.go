package device

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

type fakeProvisioner struct{}

func (fakeProvisioner) record(role tee.Role) ([]byte, error) { return fakeRecord(role), nil }

// shortDir returns a temp device dir short enough for Unix socket paths.
func shortDir(t *testing.T) string { return testkit.ShortDir(t) }

func bootTrivial(t *testing.T, modes map[tee.Role]string, mut func(*Config), relay relayer) (*Device, error) {
	t.Helper()
	dir := shortDir(t)
	return startDevice(t, Config{
		Dir:          dir,
		Command:      childCommand(dir, modes),
		ReadyTimeout: 5 * time.Second,
		StopGrace:    2 * time.Second,
	}, mut, 20*time.Second, func(ctx context.Context, cfg Config) (*Device, error) {
		return newDevice(ctx, cfg, fakeProvisioner{}, relay)
	})
}

func shutdown(t *testing.T, d *Device) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return d.Shutdown(ctx)
}

// alive reports whether pid exists (and is not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// state is the field after the ")" of the command name.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}

func pids(t *testing.T, d *Device) []int {
	t.Helper()
	var out []int
	for _, r := range d.Roles() {
		pid, err := d.PID(r)
		require.NoError(t, err)
		out = append(out, pid)
	}
	return out
}

func nextEvent(t *testing.T, d *Device, kind EventKind) Event {
	t.Helper()
	return nextEventWithin(t, d, kind, 10*time.Second)
}

// nextEventWithin is nextEvent with its own bound.
func nextEventWithin(t *testing.T, d *Device, kind EventKind, within time.Duration) Event {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case e, ok := <-d.Events():
			require.True(t, ok, "events closed while waiting for %s", kind)
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", kind)
		}
	}
}

func TestBootShutdownLeavesNothing(t *testing.T) {
	d, err := bootTrivial(t, nil, nil, nil)
	require.NoError(t, err)
	ps := pids(t, d)
	require.Len(t, ps, 2)
	for _, pid := range ps {
		assert.True(t, alive(pid), "pid %d", pid)
	}
	for _, r := range d.Roles() {
		assert.FileExists(t, d.SocketPath(r))
	}
	require.NoError(t, shutdown(t, d))
	for _, pid := range ps {
		assert.False(t, alive(pid), "pid %d survived Shutdown", pid)
	}
	for _, r := range d.Roles() {
		assert.NoFileExists(t, d.SocketPath(r))
	}
	_, err = d.PID(tee.RoleKeymaster)
	assert.ErrorIs(t, err, ErrShutdown)
	require.NoError(t, shutdown(t, d), "second Shutdown returns the first result")
	_, open := <-d.Events()
	assert.False(t, open, "Events closed by Shutdown")
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		want       error
		wantStatus string
		wantStderr string
	}{
		{"crash at startup", modeCrash, ErrExitedBeforeReady, "exit status 3", "boom: cannot open store"},
		{"never ready", modeHang, ErrReadyTimeout, "signal: killed", ""},
		{"bad readiness line", modeBadReady, ErrBadReadiness, "signal: killed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			d, err := bootTrivial(t, map[tee.Role]string{tee.RoleGatekeeper: tc.mode},
				func(c *Config) { c.ReadyTimeout = 500 * time.Millisecond }, nil)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Less(t, time.Since(start), 10*time.Second, "a failed start must not hang")
			require.ErrorIs(t, err, tc.want)
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tee.RoleGatekeeper, se.Role)
			assert.NotZero(t, se.PID)
			assert.Equal(t, tc.wantStatus, se.Status)
			assert.Contains(t, se.Stderr, tc.wantStderr)
			assert.False(t, alive(se.PID), "failed child reaped")
		})
	}
}

func TestBootFailureStopsStartedTAs(t *testing.T) {
	tests := []struct {
		name  string
		modes map[tee.Role]string
		relay relayer
		want  error
	}{
		{"later TA crashes", map[tee.Role]string{tee.RoleGatekeeper: modeCrash}, nil, ErrExitedBeforeReady},
		{"relay fails", nil, func(context.Context, *Device, []tee.Role) error { return errRelay }, errRelay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var started []*exec.Cmd
			_, err := bootTrivial(t, tc.modes, func(c *Config) {
				inner := c.Command
				c.Command = func(r tee.Role) *exec.Cmd {
					cmd := inner(r)
					started = append(started, cmd)
					return cmd
				}
			}, tc.relay)
			require.ErrorIs(t, err, tc.want)
			require.NotEmpty(t, started)
			for _, cmd := range started {
				require.NotNil(t, cmd.Process)
				assert.False(t, alive(cmd.Process.Pid), "pid %d left behind by a failed boot", cmd.Process.Pid)
			}
		})
	}
}

var errRelay = errors.New("relay failed")

func TestCrashReportedAndRestarted(t *testing.T) {
	d, err := bootTrivial(t, nil, func(c *Config) { c.Restart = RestartPolicy{MaxRestarts: 1} }, nil)
	require.NoError(t, err)
	old, err := d.PID(tee.RoleGatekeeper)
	require.NoError(t, err)

	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	e := nextEvent(t, d, EventExited)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)
	assert.Equal(t, old, e.PID)
	assert.Equal(t, "signal: killed", e.Status)
	e = nextEvent(t, d, EventRestarted)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)
	assert.NotEqual(t, old, e.PID)
	cur, err := d.PID(tee.RoleGatekeeper)
	require.NoError(t, err)
	assert.Equal(t, e.PID, cur)
	assert.True(t, alive(cur))

	// The policy allows one restart: the second death is final.
	require.NoError(t, syscall.Kill(cur, syscall.SIGKILL))
	nextEvent(t, d, EventExited)
	e = nextEvent(t, d, EventGaveUp)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)
	_, err = d.PID(tee.RoleGatekeeper)
	assert.ErrorIs(t, err, ErrNotRunning)
	_, err = d.PID(tee.RoleKeymaster)
	assert.NoError(t, err, "the other TA is unaffected")
	require.NoError(t, shutdown(t, d))
}

func TestRestartRedoesRelay(t *testing.T) {
	relayed := make(chan []tee.Role, 8)
	d, err := bootTrivial(t, nil, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}
		c.Restart = RestartPolicy{MaxRestarts: 3}
	}, func(_ context.Context, _ *Device, to []tee.Role) error { relayed <- to; return nil })
	require.NoError(t, err)
	all := []tee.Role{tee.RoleGatekeeper, tee.RoleFingerprint}
	assert.Equal(t, all, <-relayed, "boot relays to every recipient of a Keymaster route")

	tests := []struct {
		kill tee.Role
		want []tee.Role
	}{
		{tee.RoleGatekeeper, []tee.Role{tee.RoleGatekeeper}},
		{tee.RoleKeymaster, all}, // a new Keymaster has a new auth-token key
		{tee.RoleFingerprint, []tee.Role{tee.RoleFingerprint}},
	}
	for _, tc := range tests {
		pid, err := d.PID(tc.kill)
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		assert.Equal(t, tc.kill, nextEvent(t, d, EventRestarted).Role)
		select {
		case to := <-relayed:
			assert.Equal(t, tc.want, to, "after %s restarted", tc.kill)
		case <-time.After(10 * time.Second):
			t.Fatalf("no relay after %s restarted", tc.kill)
		}
	}
}

func TestRelayFailureAfterRestartIsReported(t *testing.T) {
	fail := false
	var mu sync.Mutex
	d, err := bootTrivial(t, nil, func(c *Config) { c.Restart = RestartPolicy{MaxRestarts: 1} },
		func(context.Context, *Device, []tee.Role) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errRelay
			}
			return nil
		})
	require.NoError(t, err)
	mu.Lock()
	fail = true
	mu.Unlock()
	pid, err := d.PID(tee.RoleGatekeeper)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	e := nextEvent(t, d, EventRelayFailed)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)
	assert.ErrorIs(t, e.Err, errRelay)
}

func TestShutdownKillsStubbornTA(t *testing.T) {
	d, err := bootTrivial(t, map[tee.Role]string{tee.RoleGatekeeper: modeStubborn},
		func(c *Config) { c.StopGrace = 300 * time.Millisecond }, nil)
	require.NoError(t, err)
	ps := pids(t, d)
	err = shutdown(t, d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ignored SIGTERM; killed")
	for _, pid := range ps {
		assert.False(t, alive(pid))
	}
	for _, r := range d.Roles() {
		assert.NoFileExists(t, d.SocketPath(r), "the launcher removes sockets a killed TA left")
	}
}

func TestShutdownDuringRestartBackoff(t *testing.T) {
	d, err := bootTrivial(t, nil, func(c *Config) {
		c.Restart = RestartPolicy{MaxRestarts: 5, Backoff: time.Hour}
	}, nil)
	require.NoError(t, err)
	pid, err := d.PID(tee.RoleKeymaster)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	nextEvent(t, d, EventExited)
	done := make(chan error, 1)
	go func() { done <- shutdown(t, d) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hung on a pending restart")
	}
}

func TestConfigErrors(t *testing.T) {
	dir := shortDir(t)
	cmd := childCommand(dir, nil)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{Command: cmd}},
		{"no command", Config{Dir: dir}},
		{"unknown role", Config{Dir: dir, Command: cmd, Roles: []tee.Role{"nfc"}}},
		{"duplicate role", Config{Dir: dir, Command: cmd, Roles: []tee.Role{tee.RoleKeymaster, tee.RoleKeymaster}}},
		{"socket path too long", Config{Dir: dir + "/" + strings.Repeat("d", 120), Command: cmd}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Log = zap.NewNop()
			d, err := newDevice(context.Background(), tc.cfg, fakeProvisioner{}, nil)
			require.Error(t, err)
			assert.Nil(t, d)
		})
	}
}

// TestTAsDieWithTheLauncher: when the launcher process itself is killed
// (SIGKILL, no cleanup possible), Pdeathsig takes its TAs down with it.
func TestTAsDieWithTheLauncher(t *testing.T) {
	dir := shortDir(t)
	launcher := testkit.Start(t, childCommand(dir, map[tee.Role]string{"": modeLauncher})(""))
	line := launcher.Line(t, 30*time.Second)
	fields := strings.Fields(line)
	require.Len(t, fields, 3, "launcher said %q", line)
	var tas []int
	for _, f := range fields[1:] {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		require.True(t, alive(pid))
		tas = append(tas, pid)
	}
	defer func() {
		for _, pid := range tas {
			if alive(pid) { // only if the test failed: leave nothing behind
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()

	launcher.Signal(t, syscall.SIGKILL)
	_ = launcher.Wait(t, testkit.ReapTimeout)
	for _, pid := range tas {
		assert.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 20*time.Millisecond,
			"TA pid %d outlived its launcher", pid)
	}
}
