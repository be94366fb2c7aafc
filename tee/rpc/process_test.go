package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// The cross-process tests re-execute the test binary as a child process
// that serves the fake TA (and a raw echo listener for the benchmarks).
// The variables carry no secret: a flag and a temporary directory.
const (
	envChild = "FPEMU_RPC_TEST_CHILD"
	envDir   = "FPEMU_RPC_TEST_DIR"
	// envOpts configures the child's host: space-separated key=value
	// pairs (see childOptions).
	envOpts = "FPEMU_RPC_TEST_OPTS"
	// envProfile, if set in the parent's environment, names a directory
	// where the child writes child-cpu.pprof and child-allocs.pprof when it
	// exits: the host side of a benchmark's round trip (docs/benchmarks.md).
	envProfile = "FPEMU_RPC_CHILD_PROFILE"
)

func TestMain(m *testing.M) {
	testkit.Main(m, envChild, func(string) int { return childMain() })
}

// childMain is the child process: serve the fake TA on DIR/ta.sock and a
// raw echo on DIR/echo.sock, print READY, and shut down gracefully on
// SIGTERM or when stdin closes (the parent is gone).
func childMain() int {
	dir := os.Getenv(envDir)
	log := tee.NewLogger("rpc-test-child", zapcore.WarnLevel)
	ta := newFakeTA()
	ta.markerDir = dir
	opts, err := childOptions(os.Getenv(envOpts))
	if err != nil {
		log.Error("options", zap.Error(err))
		return 2
	}
	if dir := os.Getenv(envProfile); dir != "" {
		stop, err := profileChild(dir)
		if err != nil {
			log.Error("profile", zap.Error(err))
			return 2
		}
		defer stop()
	}
	srv := NewServer(testUUID, ta, log, opts...)
	ln, err := net.Listen("unix", filepath.Join(dir, "ta.sock"))
	if err != nil {
		log.Error("listen", zap.Error(err))
		return 2
	}
	eln, err := net.Listen("unix", filepath.Join(dir, "echo.sock"))
	if err != nil {
		log.Error("listen", zap.Error(err))
		return 2
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go rawEcho(eln)

	stopped, stop := testkit.ParentContext(context.Background())
	defer stop()
	os.Stdout.WriteString("READY\n")
	<-stopped.Done()

	eln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return 1
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		return 1
	}
	return 0
}

// profileChild starts a CPU profile into dir; stop ends it and writes the
// allocation profile.
func profileChild(dir string) (stop func(), err error) {
	cpu, err := os.Create(filepath.Join(dir, "child-cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if f, err := os.Create(filepath.Join(dir, "child-allocs.pprof")); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}, nil
}

// childOptions parses envOpts: maxconns=N, budget=N (bytes; -1 none),
// frametimeout=DURATION, and nofile=N, which lowers the child's own
// RLIMIT_NOFILE before it serves.
func childOptions(spec string) ([]Option, error) {
	var opts []Option
	for _, kv := range strings.Fields(spec) {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "maxconns":
			var n int
			n, err = strconv.Atoi(v)
			opts = append(opts, WithMaxConns(n))
		case "budget":
			var n int64
			n, err = strconv.ParseInt(v, 10, 64)
			opts = append(opts, WithFrameBudget(n))
		case "frametimeout":
			var d time.Duration
			d, err = time.ParseDuration(v)
			opts = append(opts, WithFrameTimeout(d))
		case "nofile":
			var n uint64
			if n, err = strconv.ParseUint(v, 10, 64); err == nil {
				err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
			}
		default:
			err = fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv, err)
		}
	}
	return opts, nil
}

// rawEcho is the benchmark baseline: bytes in, the same bytes out, no
// framing.
func rawEcho(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := nc.Read(buf)
				if err != nil {
					return
				}
				if _, err := nc.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

// child is a running child process serving the fake TA.
type child struct {
	*testkit.Proc
	dir   string
	stdin io.WriteCloser // held open: the child stops when it closes
}

func (c *child) taPath() string   { return filepath.Join(c.dir, "ta.sock") }
func (c *child) echoPath() string { return filepath.Join(c.dir, "echo.sock") }

// startChild starts the child and waits until it serves. Cleanup kills it
// by pid if it still runs, reaps it and removes its directory. opts
// configure the child's host (see childOptions).
func startChild(tb testing.TB, opts ...string) *child {
	tb.Helper()
	dir := testkit.ShortDir(tb)
	cmd := testkit.ChildCommand(envChild+"=1", envDir+"="+dir, envOpts+"="+strings.Join(opts, " "))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	c := &child{Proc: testkit.Start(tb, cmd), dir: dir, stdin: stdin}
	require.Equal(tb, "READY", c.Line(tb, 20*time.Second), "the child's first line")
	return c
}

// waitMarker waits until a cmdMarker command is running in the child (the
// fake TA has written its marker file).
func (c *child) waitMarker(tb testing.TB) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		_, err := os.Stat(filepath.Join(c.dir, "marker"))
		return err == nil
	}, 10*time.Second, time.Millisecond, "command in flight in the child")
}

func TestCrossProcessRoundTrip(t *testing.T) {
	ch := startChild(t)
	ctx := testCtx(t)
	_, s := openAt(t, ch.taPath())

	p := tee.Params{tee.MemrefIn([]byte("process")), tee.MemrefOut(32), tee.Value(9, 10), tee.ValueOut()}
	require.NoError(t, s.Invoke(ctx, cmdTransform, &p))
	assert.Equal(t, []byte("ssecorp"), p[1].Data)
	assert.Equal(t, uint32(10), p[3].A)

	p = tee.Params{tee.Value(300, 0), tee.MemrefOut(100)}
	require.ErrorIs(t, s.Invoke(ctx, cmdProduce, &p), tee.ErrShortBuffer)
	require.Equal(t, uint32(300), p[1].Size)
	require.NoError(t, s.Invoke(ctx, cmdProduce, &p))
	require.Len(t, p[1].Data, 300)
	require.NoError(t, s.Close(ctx))
}

// TestCrossProcessTargetDead kills the TA process (SIGKILL by pid) while a
// command is in flight: the pending call and every later one fail promptly
// with TEEC_ERROR_TARGET_DEAD from COMMS, never hang.
func TestCrossProcessTargetDead(t *testing.T) {
	ch := startChild(t)
	ctx := testCtx(t)
	c, s := openAt(t, ch.taPath())
	idle, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- s.Invoke(ctx, cmdMarker, nil) }()
	ch.waitMarker(t)

	ch.Signal(t, syscall.SIGKILL)
	awaitTargetDead(t, done)
	var ee *exec.ExitError
	require.ErrorAs(t, ch.Wait(t, 10*time.Second), &ee, "child reaped")

	require.ErrorIs(t, idle.Invoke(ctx, cmdEcho, nil), tee.ErrTargetDead)
	_, err = c.OpenSession(ctx, testUUID, nil)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	_, err = Dial(ctx, ch.taPath())
	require.ErrorIs(t, err, tee.ErrTargetDead, "stale socket, nobody listening")
}

// TestCrossProcessGracefulShutdown sends SIGTERM while a command runs: the
// command completes and is answered, the child exits 0 and removes its
// socket.
func TestCrossProcessGracefulShutdown(t *testing.T) {
	ch := startChild(t)
	ctx := testCtx(t)
	_, s := openAt(t, ch.taPath())

	done := make(chan error, 1)
	go func() { done <- s.Invoke(ctx, cmdMarker, &tee.Params{tee.Value(300, 0)}) }()
	ch.waitMarker(t)

	ch.Signal(t, syscall.SIGTERM)
	require.NoError(t, <-done, "in-flight command finished and answered")
	require.NoError(t, ch.Wait(t, 10*time.Second), "clean exit status")
	_, err := os.Stat(ch.taPath())
	require.True(t, os.IsNotExist(err), "socket removed")
	require.ErrorIs(t, s.Invoke(ctx, cmdEcho, nil), tee.ErrTargetDead)
}
