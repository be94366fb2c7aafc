package taproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// echoTA answers command 1 by copying p0 (MEMREF_INPUT) into p1
// (MEMREF_OUTPUT), and reports its Env on command 2 (p0 output: role,
// p1 value: a = whether the sealer is for the TA and the dirs exist, b =
// whether the process is not dumpable).
type echoTA struct{ env *Env }

func (e *echoTA) OpenSession(context.Context, *tee.Params) (rpc.TASession, error) { return e, nil }
func (e *echoTA) Close()                                                          {}
func (e *echoTA) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	switch cmd {
	case 1:
		p.SetOutput(1, p[0].Data)
	case 2:
		p.SetOutput(0, []byte(e.env.Role))
		ok := uint32(0)
		_, errData := os.Stat(filepath.Dir(e.env.DBPath))
		_, errRPMB := os.Stat(filepath.Dir(e.env.CounterPath))
		if e.env.Sealer.Self() == e.env.UUID && errData == nil && errRPMB == nil &&
			filepath.Dir(e.env.DBPath) != filepath.Dir(e.env.CounterPath) {
			ok = 1
		}
		sealed := uint32(0)
		if d, err := dumpable(); err == nil && !d {
			sealed = 1
		}
		p.SetValue(1, ok, sealed)
	default:
		return tee.ErrNotImplemented
	}
	return nil
}

// runEchoChild is the child side: Run with the echo factory (or a failing
// one) for the role and dir in the environment.
func runEchoChild(mode string) int {
	role := tee.Role(os.Getenv(childEnv + "_ROLE"))
	dir := os.Getenv(childEnv + "_DIR")
	f := func(env *Env) (rpc.TA, error) { return &echoTA{env: env}, nil }
	if mode == "run-factory-fails" {
		f = func(*Env) (rpc.TA, error) { return nil, errors.New("store is corrupt") }
	}
	if err := Run(context.Background(), Options{Role: role, Dir: dir, Factory: f}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type runChild struct {
	cmd    *exec.Cmd
	ready  *os.File
	stderr *testkit.Buffer
	sock   string
}

// startRun starts a child running Run for role with a record for recRole.
func startRun(t *testing.T, mode string, role, recRole tee.Role) *runChild {
	t.Helper()
	dir, err := os.MkdirTemp("", "tpr")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	var fused boot.FusedKey
	fused[0] = 1
	rec, err := boot.Provision(fused, boot.BootID{2}, 0, recRole)
	require.NoError(t, err)
	recR, err := boot.RecordPipe(rec)
	require.NoError(t, err)
	defer recR.Close()
	rdyR, rdyW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { rdyR.Close() })
	defer rdyW.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", childEnv+"="+mode,
		childEnv+"_ROLE="+string(role), childEnv+"_DIR="+dir)
	cmd.ExtraFiles = []*os.File{recR, rdyW}
	cmd.WaitDelay = time.Second
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &runChild{cmd: cmd, ready: rdyR, stderr: stderr, sock: devdir.SocketPath(dir, role)}
}

func (c *runChild) readiness(t *testing.T) string {
	t.Helper()
	require.NoError(t, c.ready.SetReadDeadline(time.Now().Add(20*time.Second)))
	line, _ := bufio.NewReader(c.ready).ReadString('\n')
	return line
}

func (c *runChild) exitCode(t *testing.T) int {
	t.Helper()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func TestRunServesAndStopsOnSIGTERM(t *testing.T) {
	c := startRun(t, "run", tee.RoleGatekeeper, tee.RoleGatekeeper)
	require.Equal(t, ReadyLine+"\n", c.readiness(t), c.stderr.String())

	fi, err := os.Stat(c.sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := rpc.Dial(ctx, c.sock)
	require.NoError(t, err)
	defer cl.Close()
	s, err := cl.OpenSession(ctx, tee.UUIDGatekeeper, nil)
	require.NoError(t, err)
	p := tee.Params{tee.MemrefIn([]byte("ping")), tee.MemrefOut(16)}
	require.NoError(t, s.Invoke(ctx, 1, &p))
	assert.Equal(t, "ping", string(p[1].Data))
	p = tee.Params{tee.MemrefOut(32), tee.ValueOut()}
	require.NoError(t, s.Invoke(ctx, 2, &p))
	assert.Equal(t, "gatekeeper", string(p[0].Data))
	assert.Equal(t, uint32(1), p[1].A, "Env: sealer for the TA, data and rpmb dirs exist and differ")
	assert.Equal(t, uint32(1), p[1].B, "the TA process is not dumpable (PR_SET_DUMPABLE 0)")
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", c.cmd.Process.Pid))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Max core file size\s+0\s+0\s`, string(limits), "RLIMIT_CORE 0")
	_, err = cl.OpenSession(ctx, tee.UUIDKeymaster, nil)
	assert.ErrorIs(t, err, tee.ErrItemNotFound, "the host serves only the record's UUID")

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, c.exitCode(t), c.stderr.String())
	assert.NoFileExists(t, c.sock, "socket removed on shutdown")
	assert.Contains(t, c.stderr.String(), `"component":"gatekeeper"`)
}

func TestRunStartFailures(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		role, rec  tee.Role
		wantStderr string
	}{
		{"record for another role", "run", tee.RoleKeymaster, tee.RoleGatekeeper, "provisioning record is for another TA"},
		{"factory fails", "run-factory-fails", tee.RoleKeymaster, tee.RoleKeymaster, "store is corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startRun(t, tc.mode, tc.role, tc.rec)
			assert.Empty(t, c.readiness(t), "no readiness on failure")
			assert.Equal(t, 1, c.exitCode(t))
			assert.Contains(t, c.stderr.String(), tc.wantStderr)
			assert.NoFileExists(t, c.sock)
		})
	}
}
