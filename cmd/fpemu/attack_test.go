package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/attack"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// replayTolerantPayment is a payment TA that accepts a replayed envelope
// (answers success without passing it on): a deliberately weakened target.
type replayTolerantPayment struct {
	rpc.Invoker
	mu   *sync.Mutex
	seen map[string]bool
}

func (r replayTolerantPayment) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if cmd == uint32(payproto.CmdDeliver) && p[0].Type == tee.ParamMemrefInput {
		r.mu.Lock()
		dup := r.seen[string(p[0].Data)]
		r.seen[string(p[0].Data)] = true
		r.mu.Unlock()
		if dup {
			p.SetValue(1, 0, 0)
			return nil
		}
	}
	return r.Invoker.Invoke(ctx, cmd, p)
}

// TestAttackWeakenedTarget: with a payment TA that accepts replays, the
// bio-replay row says NOT REJECTED, names the input, and the command exits
// 1 naming the row.
func TestAttackWeakenedTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a device")
	}
	t.Setenv(asFpemu, "1") // the TA and HAL children are this test binary
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	var mu sync.Mutex
	seen := map[string]bool{}
	attackInterpose = func(role tee.Role, inv rpc.Invoker) rpc.Invoker {
		if role == tee.RolePayment {
			return replayTolerantPayment{Invoker: inv, mu: &mu, seen: seen}
		}
		return inv
	}
	t.Cleanup(func() { attackInterpose = nil })
	dir := shortTempDir(t)

	var stdout, stderr bytes.Buffer
	code := run([]string{"attack", "--run", "^bio-replay$", "--json", "--dir", dir}, nil, &stdout, &stderr)
	require.Equal(t, exitFailure, code, "stdout %s\nstderr %s", &stdout, &stderr)
	var r attack.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r), stdout.String())
	assert.Equal(t, "bio-replay", r.ID)
	assert.Equal(t, attack.NotRejected, r.Verdict)
	assert.False(t, r.Held)
	assert.Contains(t, strings.Join(r.Findings, "\n"), "the same auth result delivered again: accepted")
	assert.Contains(t, stderr.String(), "fpemu attack: 1 of 1 defence did not hold: bio-replay (NOT REJECTED)")
	assert.Empty(t, testkit.Leftovers(dir))

	// The table names the row and its findings too.
	stdout.Reset()
	stderr.Reset()
	mu.Lock()
	clear(seen)
	mu.Unlock()
	code = run([]string{"attack", "--run", "^bio-replay$", "--dir", dir}, nil, &stdout, &stderr)
	require.Equal(t, exitFailure, code)
	assert.Regexp(t, `(?m)^bio-replay\s.*NOT REJECTED$`, stdout.String())
	assert.Contains(t, stdout.String(), "  - the same auth result delivered again: accepted")
	assert.Empty(t, testkit.Leftovers(dir))
}

func TestAttackUsage(t *testing.T) {
	long := filepath.Join(shortTempDir(t), strings.Repeat("d", 90))
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"bad regexp", []string{"attack", "--run", "("}, "--run: error parsing regexp"},
		{"no match", []string{"attack", "--run", "^nothing$"}, "no attack matches"},
		{"argument", []string{"attack", "extra"}, "unknown command"},
		{"dir too long", []string{"attack", "--dir", long}, "directory too long for socket paths"},
		{"bad log level", []string{"attack", "--log-level", "loud"}, "--log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitUsage, run(tc.args, nil, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.stderr)
		})
	}
}

// TestAttackBinary runs the built binary as the README does: `fpemu
// attack --json` exits 0 with one held row per attack and leaves no
// process or socket; SIGINT in the middle ends it promptly, cleanly.
func TestAttackBinary(t *testing.T) {
	bin := builtFpemu(t)
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "attack", "--json", "--dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr: %s\nstdout: %s", &stderr, &stdout)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, len(attack.Attacks()))
	for i, l := range lines {
		var r attack.Result
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&r), l)
		assert.Equal(t, attack.Attacks()[i].ID, r.ID)
		assert.True(t, r.Held, "%s: %s %v", r.ID, r.Observed, r.Findings)
		assert.Contains(t, []attack.Verdict{attack.Rejected, attack.Survived}, r.Verdict)
	}
	assert.Empty(t, testkit.Leftovers(dir))

	// SIGINT while an attack runs.
	dir2 := shortTempDir(t)
	cmd = exec.CommandContext(ctx, bin, "attack", "--run", "fuzz", "--dir", dir2)
	stdout.Reset()
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if socks, _ := filepath.Glob(filepath.Join(dir2, "run-*", "fuzz-frames", "sock", "payment.sock")); len(socks) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "exit: %v; stderr %s", err, &stderr)
	assert.Equal(t, exitFailure, ee.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "fpemu attack: interrupted")
	assert.Empty(t, testkit.Leftovers(dir2))
}
