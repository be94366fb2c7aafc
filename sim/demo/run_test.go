package demo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// shortTempDir returns a fresh directory with a path short enough for the
// device's Unix sockets (t.TempDir paths can exceed sun_path).
func shortTempDir(t *testing.T) string { return testkit.ShortDir(t) }

// TestScenario runs the whole demo on a device of real child processes and
// checks that every step behaved as expected, that the trace reads as
// documented, and that the device left nothing behind.
func TestScenario(t *testing.T) {
	cfg := testConfig(t)
	var logs testkit.Buffer
	var seen []Step
	cfg.OnStep = func(s Step) { seen = append(seen, s) }
	cfg.Logs = &logs
	rep, err := Run(testCtx(t), cfg)
	for _, s := range rep.Steps {
		t.Logf("%2d %-52s ok=%v %8.2f ms %s err=%v", s.N, s.Name, s.OK, s.Millis(), s.Details, s.Err)
	}
	require.NoError(t, err, "logs:\n%s", tailOf(logs.String(), 8000))
	require.True(t, rep.OK())
	require.Len(t, rep.Steps, len(scenario))
	assert.Equal(t, rep.Steps, seen, "OnStep sees every step as it ends")
	for i, s := range rep.Steps {
		assert.Equal(t, i+1, s.N)
		assert.Equal(t, scenario[i].name, s.Name)
		assert.Positive(t, s.Elapsed, s.Name)
	}

	// What a reader of the trace is promised.
	byName := func(prefix string) Step {
		for _, s := range rep.Steps {
			if strings.HasPrefix(s.Name, prefix) {
				return s
			}
		}
		t.Fatalf("no step %q", prefix)
		return Step{}
	}
	rem, _ := byName("enroll finger 1").Details.Get("onEnrollResult_remaining")
	assert.Equal(t, []uint32{7, 6, 5, 4, 3, 2, 1, 0}, rem)
	v, _ := byName("payment key invalidated").Details.Get("sign_payment")
	assert.Contains(t, v, "KEY_INVALIDATED")
	v, _ = byName("bio result relayed").Details.Get("app_wait")
	assert.Equal(t, "none", v, "the payment TA held the auth result at onAuthenticated")
	v, _ = byName("lockout").Details.Get("rejections")
	assert.Equal(t, 5, v)
	v, _ = byName("Keystore").Details.Get("other_op_hat")
	assert.Equal(t, "KEY_USER_NOT_AUTHENTICATED", v)

	// The payment through the server process, and its refusals.
	v, _ = byName("statement sealed in the TA").Details.Get("rule")
	assert.Equal(t, "ok", v)
	v, _ = byName("ledger row").Details.Get("amount")
	assert.Equal(t, "12.50 CNY", v)
	v, _ = byName("ledger row").Details.Get("order_status")
	assert.Equal(t, "paid", v)

	// n-factor payments (seed 003's example policy): 1, 2 and 3 factors
	// booked, a large one with a fingerprint only refused naming the
	// missing factors, the spent one-time code refused.
	for _, c := range []struct{ step, shown, satisfied, rule string }{
		{"small order", "factors fingerprint", "fingerprint", "ok"},
		{"medium order", "factors fingerprint+password", "fingerprint+password", "ok"},
		{"large order, fingerprint only", "factors fingerprint+password+otp", "fingerprint", "factors"},
		{"large order: 3 factors", "factors fingerprint+password+otp", "fingerprint+password+otp", "ok"},
	} {
		s := byName(c.step)
		v, _ := s.Details.Get("shown_to_user")
		assert.Equal(t, c.shown, v, c.step)
		v, _ = s.Details.Get("satisfied")
		assert.Equal(t, c.satisfied, v, c.step)
		v, _ = s.Details.Get("rule")
		assert.Equal(t, c.rule, v, c.step)
	}
	v, _ = byName("large order, fingerprint only").Details.Get("detail")
	assert.Equal(t, "missing password+otp", v)
	v, _ = byName("one-time code replayed").Details.Get("rule")
	assert.Equal(t, "otp-replay", v)
	v, _ = byName("feedback verified by the TA").Details.Get("status_request")
	assert.Equal(t, "the same booking, replayed", v)
	for step, rule := range map[string]string{
		"tampered amount refused":    "payload",
		"counter rollback refused":   "counter",
		"replayed statement refused": "payload",
	} {
		v, _ = byName(step).Details.Get("rule")
		assert.Equal(t, rule, v, step)
	}
	v, _ = byName("replayed statement refused").Details.Get("ledger_rows")
	assert.Equal(t, 2, v, "one row per paid order, none for a refusal")

	// Nothing left: processes (the server's too), sockets, directory.
	require.Len(t, rep.PIDs, 6)
	require.Contains(t, rep.PIDs, serverPIDKey)
	for role, pid := range rep.PIDs {
		assert.False(t, alive(pid), "%s pid %d", role, pid)
	}
	assert.False(t, rep.Kept)
	_, err = os.Stat(rep.Dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "device directory removed")
}

// TestKeepDir: with Keep the device directory stays, with the stores, but
// without sockets; a non-empty directory is refused before anything starts.
func TestKeepDir(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "dev")
	cfg := testConfig(t)
	cfg.Dir, cfg.Keep = dir, true
	rep, err := Run(testCtx(t), cfg)
	require.NoError(t, err)
	assert.True(t, rep.Kept)
	assert.Equal(t, dir, rep.Dir)
	assert.FileExists(t, filepath.Join(dir, "fused.key"))
	for _, p := range []string{"data/fingerprint", "data/payment", "rpmb/payment"} {
		assert.DirExists(t, filepath.Join(dir, p))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "sock"))
	assert.Empty(t, ents, "no socket left")

	_, err = Run(testCtx(t), cfg)
	require.ErrorIs(t, err, ErrDirNotEmpty)
}

// TestInterrupted: cancelling the context mid-run (what SIGINT does in
// `fpemu demo`) fails the step in progress and still stops every process:
// before the server exists, and while it runs.
func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		after      string
		withServer bool
	}{{"enroll finger 1", false}, {"merchant order", true}} {
		t.Run(tc.after, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			cfg := testConfig(t)
			cfg.OnStep = func(s Step) {
				if strings.HasPrefix(s.Name, tc.after) {
					cancel()
				}
			}
			rep, err := Run(ctx, cfg)
			require.ErrorIs(t, err, context.Canceled)
			require.False(t, rep.OK())
			last := rep.Steps[len(rep.Steps)-1]
			assert.False(t, last.OK)
			assert.ErrorContains(t, last.Err, "interrupted")
			require.NotEmpty(t, rep.PIDs)
			_, ok := rep.PIDs[serverPIDKey]
			assert.Equal(t, tc.withServer, ok, "server pid in the report")
			for role, pid := range rep.PIDs {
				assert.False(t, alive(pid), "%s pid %d", role, pid)
			}
			_, err = os.Stat(rep.Dir)
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestFailuresAreReported: a device that misbehaves fails the run at the
// step that notices, with an error saying why, and still leaves no process
// or directory behind.
func TestFailuresAreReported(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*Config)
		failStep string
		errText  string
	}{
		{
			"a TA that cannot start",
			func(c *Config) {
				ta := c.TACommand
				c.TACommand = func(dir string) func(tee.Role) *exec.Cmd {
					return func(role tee.Role) *exec.Cmd {
						if role == tee.RoleFingerprint {
							return child.Command("crash", role, dir)
						}
						return ta(dir)(role)
					}
				}
			},
			"boot TAs", "boom: cannot open store",
		},
		{
			"a HAL that never relays the bio reports",
			func(c *Config) {
				c.HALCommand = func(dir string) *exec.Cmd { return child.Command("hal-norelay", "", dir) }
			},
			"payment app registers", "is the HAL relaying bio envelopes?",
		},
		{
			"a HAL that loses the auth results",
			func(c *Config) {
				c.HALCommand = func(dir string) *exec.Cmd { return child.Command("hal-noauth", "", dir) }
			},
			"bio result relayed", "is the HAL relaying bio envelopes before onAuthenticated?",
		},
		{
			"a server that exits before it is ready",
			func(c *Config) {
				srv := c.ServerCommand
				c.ServerCommand = func(args ...string) *exec.Cmd { return srv(append(args, "--profiles", "tls")...) }
			},
			"fpemu server process", "no ready line",
		},
		{
			"a server killed mid-run",
			func(c *Config) {
				c.OnStep = func(s Step) {
					if pid, ok := s.Details.Get("pid"); ok && strings.HasPrefix(s.Name, "fpemu server") {
						_ = syscall.Kill(pid.(int), syscall.SIGKILL)
						for end := time.Now().Add(10 * time.Second); alive(pid.(int)) && time.Now().Before(end); {
							time.Sleep(10 * time.Millisecond)
						}
					}
				}
			},
			// The request fails as refused or reset (a kept-alive
			// connection); either way the step names the dead server.
			"merchant order", "signal: killed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.mutate(&cfg)
			r, err := newRunner(cfg)
			require.NoError(t, err)
			rep, err := r.run(testCtx(t))
			var se *StepError
			require.ErrorAs(t, err, &se)
			assert.True(t, strings.HasPrefix(se.Name, tc.failStep), se.Name)
			assert.ErrorContains(t, err, tc.errText)
			require.False(t, rep.OK())
			last := rep.Steps[len(rep.Steps)-1]
			assert.False(t, last.OK)
			assert.Equal(t, se.N, last.N)
			for role, pid := range rep.PIDs {
				assert.False(t, alive(pid), "%s pid %d", role, pid)
			}
			_, err = os.Stat(rep.Dir)
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}
