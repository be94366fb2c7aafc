package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// The helpers of the tests that run fpemu as a process: the built binary
// (fpemuBin), or this test binary standing in for it (fpemuCmd,
// taCommand).

// fpemuBin is the real fpemu binary, built once per test run by the
// first test that needs it (fpemuBin.Path) and removed by TestMain.
var fpemuBin = &testkit.Shared{Pkg: testkit.FpemuPackage}

// builtFpemu is the built fpemu binary (fpemuBin) for a test that runs it
// as its own process; under -short, which builds nothing, the test is
// skipped.
func builtFpemu(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the fpemu binary")
	}
	return fpemuBin.Path(t)
}

// runFpemu runs bin args — in dir unless it is "", stdin from stdin — to
// its end within 30 s; it returns what runCmd returns.
func runFpemu(t *testing.T, bin, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// runCmd runs cmd to its end and returns its exit code, stdout and
// stderr; an error other than a non-zero exit fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stdout.String(), stderr.String()
}

// taCommand is a launcher Command (device.Config) whose TAs are this test
// binary as `fpemu ta <role> --dir dir`.
func taCommand(dir string) func(tee.Role) *exec.Cmd {
	return func(r tee.Role) *exec.Cmd {
		c := device.TACommand(os.Args[0], dir)(r)
		c.Env = append(os.Environ(), asFpemu+"=1", "GORACE=atexit_sleep_ms=0")
		return c
	}
}

// upProcess is a running `fpemu device up --dir DIR --json` of the built
// binary, past its JSON line.
type upProcess struct {
	*testkit.Proc
	info DeviceInfo
}

// startDeviceUp starts `bin device up --dir dir --json ARGS…` and waits,
// within ctx, for the JSON line that says the device is up; the process is
// killed by pid and reaped when the test ends.
func startDeviceUp(t *testing.T, ctx context.Context, bin, dir string, args ...string) *upProcess {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"device", "up", "--dir", dir, "--json"}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	d := &upProcess{Proc: testkit.Start(t, cmd)}
	l := d.Line(t, time.Until(deadline(ctx)))
	require.NoError(t, json.Unmarshal([]byte(l), &d.info), l)
	return d
}

// deadline is ctx's deadline, or a minute from now if it has none.
func deadline(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(time.Minute)
}

// interrupt sends SIGINT and requires a clean exit within ctx.
func (d *upProcess) interrupt(t *testing.T, ctx context.Context) {
	t.Helper()
	d.Signal(t, syscall.SIGINT)
	require.NoError(t, d.Wait(t, time.Until(deadline(ctx))), "stderr:\n%s", d.Stderr())
}
