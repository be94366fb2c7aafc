package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/conform"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// The bring-your-own-HAL/TA tests (`device up --no-hal`, `--exec
// ROLE=PATH`, docs/protocol.md §7.8) run the real binary, as a vendor's
// test engineer would.

// vendorTag is the build tag of the "vendor's" build of fpemu.
const vendorTag = "acme-vendor-build-7"

// vendorBin is a second, trivially different fpemu: the same sources
// linked with -X main.buildTag=vendorTag, so each of its processes logs
// that tag and the test can tell which build served a role. TestMain
// removes it with fpemuBin.
var vendorBin = &testkit.Shared{Pkg: testkit.FpemuPackage, Flags: []string{"-ldflags", "-X main.buildTag=" + vendorTag}}

// procExe is the binary process pid runs.
func procExe(t *testing.T, pid int) string {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	require.NoError(t, err)
	return exe
}

// logLines are the JSON log lines of stderr with the given component and
// message.
func logLines(stderr, component, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if m["component"] == component && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// conformJSON runs `bin conform ARGS… --json` and returns its exit code
// and the status of every case by suite/name.
func conformJSON(t *testing.T, ctx context.Context, bin string, args ...string) (int, map[string]string, string) {
	t.Helper()
	code, out, stderr := runCmd(t, exec.CommandContext(ctx, bin, append([]string{"conform", "--json"}, args...)...))
	var rep struct {
		Cases []struct{ Suite, Name, Status, Reason string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout %q stderr %q", out, stderr)
	got := map[string]string{}
	for _, c := range rep.Cases {
		s := c.Status
		if c.Reason != "" && s != string(conform.Pass) {
			s += ": " + c.Reason
		}
		got[c.Suite+"/"+c.Name] = s
	}
	return code, got, stderr
}

// allPass asserts that every conform case ran and passed.
func allPass(t *testing.T, got map[string]string) {
	t.Helper()
	cases := conform.Cases()
	require.Len(t, got, len(cases))
	for _, c := range cases {
		assert.Equal(t, string(conform.Pass), got[c.FullName()], c.FullName())
	}
}

// vendorBench sets up a test that runs the vendor's build against the
// whole suite: skipped with -short, parallel, fpemu and the vendor build
// built, a device directory and a 4-minute context.
func vendorBench(t *testing.T) (bin, vbin, dir string, ctx context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds two binaries and runs the whole suite")
	}
	t.Parallel()
	bin, vbin = fpemuBin.Path(t), vendorBin.Path(t)
	dir = shortTempDir(t)
	return bin, vbin, dir, testkit.Context(t, 4*time.Minute)
}

// TestDeviceUpExecVendorBuild is issue 13's swap: `device up --exec
// fingerprint=VENDOR --exec hal=VENDOR` runs the vendor's build for the
// fingerprint TA and the HAL with fpemu's contract, and the whole
// conformance suite (every case, LockoutExpiryTest included) passes
// against that stack; /proc/PID/exe and the build line each process logs
// show the vendor's build served both roles throughout.
func TestDeviceUpExecVendorBuild(t *testing.T) {
	bin, vbin, dir, ctx := vendorBench(t)
	up := startDeviceUp(t, ctx, bin, dir, "--exec", "fingerprint="+vbin, "--exec", "hal="+vbin)

	require.NotNil(t, up.info.HAL)
	assert.Equal(t, vbin, up.info.HAL.Exec)
	assert.Equal(t, vbin, procExe(t, up.info.HAL.PID), "the HAL process is the vendor build")
	pids := map[string]int{"hal": up.info.HAL.PID}
	for _, p := range up.info.TAs {
		pids[p.Role] = p.PID
		want := bin
		if p.Role == "fingerprint" {
			want = vbin
			assert.Equal(t, vbin, p.Exec)
		} else {
			assert.Empty(t, p.Exec)
		}
		assert.Equal(t, want, procExe(t, p.PID), p.Role)
	}
	for _, comp := range []string{"fingerprint", "hal"} {
		lines := logLines(up.Stderr(), comp, "build")
		require.Len(t, lines, 1, "%s logs its build once", comp)
		assert.Equal(t, vendorTag, lines[0]["build_tag"], comp)
	}
	assert.Empty(t, logLines(up.Stderr(), "keymaster", "build"), "fpemu's own build logs no tag")

	code, got, stderr := conformJSON(t, ctx, bin, "--device", dir)
	assert.Equal(t, 0, code, stderr)
	allPass(t, got)

	// The same vendor processes served the whole run.
	assert.Equal(t, vbin, procExe(t, pids["hal"]))
	assert.Equal(t, vbin, procExe(t, pids["fingerprint"]))
	up.interrupt(t, ctx)
	for role, pid := range pids {
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "%s (pid %d) is gone", role, pid)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotEqual(t, "sock", e.Name(), "sock/ is removed")
	}
}

// TestConformVendorHALNoHAL is the README recipe: `device up --no-hal`
// runs no HAL (and nothing pumps the fingerprint TA's events), the
// vendor's HAL is started by hand beside it on a socket of its own
// (`hal --socket`, not the device's sock/hal.sock), and `conform --hal
// HAL.sock --device DIR` runs every case against it — the 13 stricter
// cases that need Gatekeeper, the sensor or Keymaster included, none
// skipped.
func TestConformVendorHALNoHAL(t *testing.T) {
	bin, vbin, dir, ctx := vendorBench(t)
	up := startDeviceUp(t, ctx, bin, dir, "--no-hal")
	assert.Nil(t, up.info.HAL, "no hal in the JSON")
	devSock := filepath.Join(dir, "sock", "hal.sock")
	assert.NoFileExists(t, devSock)

	// Without --hal conform says what to add.
	code, _, stderr := runCmd(t, exec.CommandContext(ctx, bin, "conform", "--device", dir))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "give your HAL's socket with --hal")

	// The vendor's HAL, started as a vendor starts theirs: by hand, no
	// launcher descriptors, pointed at the device directory, serving its
	// own path.
	halSock := filepath.Join(shortTempDir(t), "vendor-hal.sock")
	hal := testkit.Start(t, exec.Command(vbin, "hal", "--dir", dir, "--socket", halSock))
	require.Eventually(t, func() bool { _, err := os.Stat(halSock); return err == nil }, 20*time.Second, 20*time.Millisecond, "vendor HAL up; stderr:\n%s", hal.Stderr())
	assert.NoFileExists(t, devSock, "the HAL serves --socket only")

	code, got, stderr := conformJSON(t, ctx, bin, "--hal", halSock, "--device", dir)
	assert.Equal(t, 0, code, stderr)
	allPass(t, got)
	stricter := 0
	for _, c := range conform.Cases() {
		if c.Suite == conform.SuiteFpemu && c.Needs != 0 {
			stricter++
		}
	}
	assert.Equal(t, 13, stricter, "the 13 stricter cases that need more than the HAL")
	lines := logLines(hal.Stderr(), "hal", "build")
	require.Len(t, lines, 1)
	assert.Equal(t, vendorTag, lines[0]["build_tag"], "the vendor build served the run")

	hal.Signal(t, syscall.SIGTERM)
	require.NoError(t, hal.Wait(t, 20*time.Second), hal.Stderr())
	assert.NoFileExists(t, halSock, "its socket removed")
	up.interrupt(t, ctx)
}

// TestNoHALDirectClientSeesEveryEvent: against `device up --no-hal` a CA→TA
// client of its own — the fpproto request types over tee/rpc, as a vendor
// HAL uses them — enrolls and authenticates with the sensor and reads
// every event the fingerprint TA queues, in order: the enrollment's
// ACQUIRED/TEMPLATE_ENROLLING pairs counting down without a gap, then for
// each of several authentications its ACQUIRED and the AUTHENTICATED with
// the HAT, and nothing left over. With fpemu's HAL pumping NEXT_EVENT
// (device up without --no-hal) these would go to the HAL instead.
func TestNoHALDirectClientSeesEveryEvent(t *testing.T) {
	t.Parallel()
	bin := builtFpemu(t)
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir, "--no-hal")
	require.Nil(t, up.info.HAL)
	sock := func(r tee.Role) string { return filepath.Join(dir, "sock", string(r)+".sock") }

	session := func(r tee.Role) rpc.Invoker {
		c, err := rpc.Dial(ctx, sock(r))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		u, err := tee.UUIDOf(r)
		require.NoError(t, err)
		s, err := c.OpenSession(ctx, u, nil)
		require.NoError(t, err)
		return s
	}
	cmd, events := session(tee.RoleFingerprint), session(tee.RoleFingerprint)
	pin, err := drive.EnrollPIN(ctx, session(tee.RoleGatekeeper), 0, []byte("2580"))
	require.NoError(t, err)
	sen, err := device.DialSensor(ctx, up.info.SensorSocket)
	require.NoError(t, err)
	t.Cleanup(func() { sen.Close() })

	var seen []fpproto.Event
	next := func() fpproto.Event {
		t.Helper()
		for {
			e, _, err := fpproto.NextEvent{Wait: 2 * time.Second}.Execute(ctx, events)
			require.NoError(t, err)
			if e.Type != fpproto.MsgNone {
				seen = append(seen, e)
				return e
			}
			require.NoError(t, ctx.Err(), "events so far: %v", seen)
		}
	}
	ok := func(st fpproto.RequestStatus, err error) {
		t.Helper()
		require.NoError(t, err)
		require.Equal(t, fpproto.SysOK, st)
	}

	const gid = 7
	ok(fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}.Execute(ctx, cmd))
	challenge, err := fpproto.PreEnroll{}.Execute(ctx, cmd)
	require.NoError(t, err)
	hat, err := pin.HAT(ctx, challenge)
	require.NoError(t, err)
	f := finger.New(0xACE0F)
	// Every sample is on the sensor before ENROLL: the TA queues its
	// events as fast as it can, the harshest case for a lost one.
	require.NoError(t, sen.EnrollTouches(ctx, f, fpproto.DefaultEnrollSamples))
	ok(fpproto.Enroll{HAT: hat.Marshal(), GID: gid, TimeoutSec: 60}.Execute(ctx, cmd))
	want := uint32(fpproto.DefaultEnrollSamples - 1)
	var fid uint32
	for extra := 0; ; {
		e := next()
		require.Equal(t, fpproto.MsgAcquired, e.Type, "each sample is ACQUIRED first; events: %v", seen)
		if e.Acquired != fpproto.AcquiredGood {
			extra++
			require.LessOrEqual(t, extra, fpproto.DefaultEnrollSamples, "events: %v", seen)
			require.NoError(t, sen.Touch(ctx, f, drive.Shifted(100+extra)))
			continue
		}
		e = next()
		require.Equal(t, fpproto.MsgTemplateEnrolling, e.Type, "events: %v", seen)
		require.Equal(t, want, e.Remaining, "no TEMPLATE_ENROLLING lost; events: %v", seen)
		require.EqualValues(t, gid, e.GroupID)
		require.NotZero(t, e.FingerID)
		if fid == 0 {
			fid = e.FingerID
		}
		require.Equal(t, fid, e.FingerID)
		if want == 0 {
			break
		}
		want--
	}
	ok(fpproto.PostEnroll{}.Execute(ctx, cmd))

	const auths = 5
	for i := range auths {
		require.NoError(t, sen.Touch(ctx, f, drive.Shifted(i)))
		op := uint64(0x5000 + i)
		ok(fpproto.Authenticate{OperationID: op, GID: gid}.Execute(ctx, cmd))
		for {
			e := next()
			require.Equal(t, fpproto.MsgAcquired, e.Type, "events: %v", seen)
			e = next()
			require.Equal(t, fpproto.MsgAuthenticated, e.Type, "events: %v", seen)
			if e.FingerID == 0 { // a rejection: the operation goes on
				require.NoError(t, sen.Touch(ctx, f, drive.Shifted(50+i)))
				continue
			}
			require.Equal(t, fid, e.FingerID)
			tok, err := tokens.Parse(e.HAT)
			require.NoError(t, err)
			assert.Equal(t, op, tok.Challenge, "the HAT of authentication %d", i)
			assert.Equal(t, pin.SID, tok.UserID)
			break
		}
	}
	// Nothing else was queued: no event arrived out of order or late.
	e, queued, err := fpproto.NextEvent{Wait: 300 * time.Millisecond}.Execute(ctx, events)
	require.NoError(t, err)
	assert.Equal(t, fpproto.MsgNone, e.Type, "left over: %v", e)
	assert.Zero(t, queued)
	t.Logf("%d events, every one read by the client: %s", len(seen), strconv.Quote(fmt.Sprint(seen)))
	up.interrupt(t, ctx)
}
