// Package example_test runs the Python example of docs/examples/python
// against a real device: `fpemu device up` started by the script, driven
// only through the fpemu CLI helpers. It is the proof that a harness in
// another language needs none of the CA→TA framing.
package example_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// python3 finds the interpreter, or skips the test with the reason — never
// under CI=true, where the example must run.
func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import sys; assert sys.version_info >= (3, 8)").Run()
	}
	if err != nil {
		testkit.Unavailable(t, "python3 (3.8 or later) not available (%v): the Python example needs it", err)
	}
	return py
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func TestPythonExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fpemu and boots a device")
	}
	py := python3(t)
	bin := testkit.BuildFpemu(t, t.TempDir())
	dir := filepath.Join(testkit.ShortDir(t), "dev")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "fpemu_example.py", "--fpemu", bin, "--dir", dir)
	// The script and what it starts share a new process group, so a test
	// that times out can end all of them; Cancel signals the script first,
	// which stops its device as it documents.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group of the script we started; ESRCH once all are gone
	}
	out := stdout.String()
	t.Logf("example output:\n%s", out)
	require.NoError(t, runErr, "stderr:\n%s", stderr.String())

	for _, want := range []string{
		"ok   gatekeeper enroll: handle of 58 bytes",
		"ok   gatekeeper verify: a 69-byte hw_auth_token_t",
		"ok   token decode: PASSWORD, user_id = SID, challenge = 0xc0ffee",
		"ok   wrong password: exit 1, wrong_password",
		"ok   missing socket: exit 4, unreachable",
		"ok   sensor present: finger 7, enroll touch 0",
		"ok   sensor reset: queue empty, fault cleared",
		"device down: exit 0",
		"example: every step behaved as documented",
	} {
		assert.Contains(t, out, want)
	}

	// Every process the script started has ended, and the device's
	// sockets are gone.
	pids := regexp.MustCompile(`pid=(\d+)`).FindAllStringSubmatch(out, -1)
	require.GreaterOrEqual(t, len(pids), 5, "device up, HAL and the TAs")
	for _, m := range pids {
		pid, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		assert.False(t, alive(pid), "pid %d still running", pid)
	}
	socks, err := filepath.Glob(filepath.Join(dir, "sock", "*.sock"))
	require.NoError(t, err)
	assert.Empty(t, socks, "sockets left behind")
}
