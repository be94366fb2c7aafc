package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// asFpemu makes the test binary behave as the fpemu binary, so that TA
// processes can be started as `fpemu ta <role> --dir DIR` without a build.
const asFpemu = "FPEMU_CMD_TEST_AS_FPEMU"

// TestMain runs the tests — then removes the built fpemu binaries, failing
// the run if a directory is left — or, as a child with asFpemu=1, is fpemu.
func TestMain(m *testing.M) {
	if os.Getenv(asFpemu) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	for _, b := range []*testkit.Shared{fpemuBin, vendorBin} {
		if err := b.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "built fpemu left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fpemuCmd returns the test binary running as `fpemu args...`.
func fpemuCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asFpemu+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.WaitDelay = time.Second
	return cmd
}

func shortTempDir(t *testing.T) string { return testkit.ShortDir(t) }

// bootTAs boots a device in dir whose TAs of roles (device.Config's
// default when none) are `fpemu ta <role> --dir DIR` processes of this
// test binary, and shuts it down when the test ends: every TA must exit
// cleanly.
func bootTAs(t *testing.T, ctx context.Context, dir string, roles ...tee.Role) *device.Device {
	t.Helper()
	d, err := device.Boot(ctx, device.Config{Dir: dir, Roles: roles, Command: taCommand(dir), Log: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Shutdown(ctx), "shutdown") })
	return d
}

// openSession opens a session on d's TA of role, closed when the test
// ends (before the device shuts down).
func openSession(t *testing.T, ctx context.Context, d *device.Device, role tee.Role) *device.Session {
	t.Helper()
	s, err := d.OpenSession(ctx, role)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestTAByHand: a TA started without the launcher's descriptors fails at
// once with a clear message and exit 2; bad invocations are usage errors.
func TestTAByHand(t *testing.T) {
	dir := shortTempDir(t)
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"keymaster without fd 3", []string{"ta", "keymaster", "--dir", dir}, "not started by the fpemu launcher"},
		{"gatekeeper without fd 3", []string{"ta", "gatekeeper", "--dir", dir}, "not started by the fpemu launcher"},
		{"missing --dir", []string{"ta", "keymaster"}, `required flag(s) "dir" not set`},
		{"unknown role", []string{"ta", "nfc"}, "unknown command"},
		{"bad log level", []string{"ta", "keymaster", "--dir", dir, "--log-level", "loud"}, "--log-level"},
		{"bad durability", []string{"ta", "keymaster", "--dir", dir, "--durability", "disk"}, "--durability"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := fpemuCmd(ctx, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			// exec.Cmd passes only fds 0–2 (and ExtraFiles): fd 3 is closed.
			err := cmd.Run()
			require.NoError(t, ctx.Err(), "must not hang")
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "err %v", err)
			assert.Equal(t, exitUsage, ee.ExitCode(), stderr.String())
			assert.Contains(t, stderr.String(), tc.wantStderr)
		})
	}
	assert.NoDirExists(t, dir+"/sock", "a refused TA creates nothing")
}

// TestTAUnderLauncher boots a device whose TAs are `fpemu ta <role> --dir
// DIR` processes and drives both through the launcher's relay.
func TestTAUnderLauncher(t *testing.T) {
	dir := shortTempDir(t)
	ctx := testkit.Context(t, 60*time.Second)
	d := bootTAs(t, ctx, dir)

	gk := openSession(t, ctx, d, tee.RoleGatekeeper)
	enr, err := gkproto.Enroll{UID: 1, DesiredPassword: []byte("pw")}.Execute(ctx, gk)
	require.NoError(t, err)
	ver, err := gkproto.Verify{UID: 1, Handle: enr.Handle, Password: []byte("pw")}.Execute(ctx, gk)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, ver.Status, "the relayed auth-token key is installed")

	km := openSession(t, ctx, d, tee.RoleKeymaster)
	_, err = kmproto.GetAuthTokenKey{Recipient: tee.UUIDKeymaster}.Execute(ctx, km)
	assert.ErrorIs(t, err, tee.ErrAccessDenied)
}
