package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/sim/conform"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// conformRun runs `fpemu conform args...` as a process (the test binary as
// fpemu, so the device it boots is made of `fpemu ta`/`fpemu hal`
// children) with TMPDIR set to tmp, and returns its exit code and output.
func conformRun(t *testing.T, tmp string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := fpemuCmd(ctx, append([]string{"conform"}, args...)...)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	code, stdout, stderr := runCmd(t, cmd)
	require.NoError(t, ctx.Err(), "must not hang")
	return code, stdout, stderr
}

// TestConformSelfBooted: without --hal, conform boots its own device, runs
// the suite (the 30 s lockout expiry left out), exits 0, writes JUnit XML
// that parses, and leaves nothing in TMPDIR.
func TestConformSelfBooted(t *testing.T) {
	tmp := shortTempDir(t)
	junit := filepath.Join(t.TempDir(), "conform.xml")
	code, out, stderr := conformRun(t, tmp, "--skip", "LockoutExpiry", "--junit", junit)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(conform.Cases())+1) // every case, and the summary
	for _, l := range lines[:len(lines)-2] {
		assert.True(t, strings.HasPrefix(l, "PASS  "), l)
	}
	assert.Regexp(t, `^SKIP  fpemu/LockoutExpiryTest +[0-9.]+s  not selected$`, lines[len(lines)-2])
	assert.Regexp(t, `^ok: 31 passed, 0 failed, 1 skipped \(32 cases\) in `, lines[len(lines)-1])

	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc conform.JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	assert.Equal(t, 32, doc.Tests)
	assert.Equal(t, 1, doc.Skipped)
	assert.Zero(t, doc.Failures)
	require.Len(t, doc.Suites, 2)
	assert.Equal(t, "vts", doc.Suites[0].Name)
	assert.Len(t, doc.Suites[0].Cases, 18)

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the device dir and store path are removed")
}

// TestConformFailures: a store path the HAL cannot use fails VTS SetUp in
// every case that runs: exit 1, FAIL lines, JSON with the failures.
func TestConformFailures(t *testing.T) {
	tmp := shortTempDir(t)
	code, out, stderr := conformRun(t, tmp, "--run", "^vts/(Connect|Cancel)Test$", "--store-path", "/nonexistent", "--json")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Contains(t, stderr, "fpemu conform: conformance failures: 2 case(s) failed")
	var rep struct {
		Failed     int  `json:"failed"`
		SelfBooted bool `json:"self_booted"`
		Cases      []struct {
			Name, Status, Reason string
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, 2, rep.Failed)
	assert.True(t, rep.SelfBooted)
	require.Len(t, rep.Cases, len(conform.Cases()))
	for _, c := range rep.Cases {
		if c.Name != "ConnectTest" && c.Name != "CancelTest" {
			assert.Equal(t, "SKIP", c.Status, c.Name)
			assert.Equal(t, conform.NotSelected, c.Reason, c.Name)
			continue
		}
		assert.Equal(t, "FAIL", c.Status)
		assert.Contains(t, c.Reason, "SetUp")
	}
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestConformDevice: --device DIR tests the device of `fpemu device up
// --dir DIR`, here booted by the test.
func TestConformDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	asChild := func(c *exec.Cmd) *exec.Cmd {
		c.Env = append(os.Environ(), asFpemu+"=1", "GORACE=atexit_sleep_ms=0")
		return c
	}
	d, err := conform.StartDevice(ctx, conform.DeviceConfig{
		TACommand: func(dir string) func(tee.Role) *exec.Cmd {
			return func(r tee.Role) *exec.Cmd { return asChild(device.TACommand(os.Args[0], dir)(r)) }
		},
		HALCommand: func(dir string) *exec.Cmd { return asChild(device.HALCommand(os.Args[0], dir)) },
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close(ctx)) }()

	code, out, stderr := conformRun(t, shortTempDir(t), "--device", d.Dir(), "--run", "^fpemu/(Enroll|Authenticate)Test$")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Contains(t, out, "PASS  fpemu/EnrollTest")
	assert.Contains(t, out, "PASS  fpemu/AuthenticateTest")
	assert.Contains(t, out, "ok: 2 passed, 0 failed, 30 skipped (32 cases)")

	// Only the HAL: the cases that need a finger are skipped, not passed.
	code, out, stderr = conformRun(t, shortTempDir(t), "--hal", filepath.Join(d.Dir(), "sock", "hal.sock"), "--run", "^fpemu/EnrollTest$")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Contains(t, out, "SKIP  fpemu/EnrollTest")
	assert.Contains(t, out, "needs --gatekeeper")
}

// TestConformUsage: bad invocations exit 2, an unreachable HAL exits 1,
// --list exits 0.
func TestConformUsage(t *testing.T) {
	dir := shortTempDir(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad --run", []string{"--run", "("}, exitUsage, "--run: error parsing regexp"},
		{"bad --skip", []string{"--skip", "[", "--hal", "x"}, exitUsage, "--skip"},
		{"gatekeeper without hal", []string{"--gatekeeper", "g.sock"}, exitUsage, "need --hal"},
		{"keymaster without hal", []string{"--keymaster", "k.sock"}, exitUsage, "need --hal"},
		{"device and gatekeeper", []string{"--device", dir, "--gatekeeper", "g.sock"}, exitUsage, "--device replaces"},
		{"empty selection", []string{"--hal", "x", "--run", "NoSuchCase"}, exitUsage, "select no case"},
		{"stray argument", []string{"extra"}, exitUsage, "unknown command"},
		{"unreachable hal", []string{"--hal", filepath.Join(dir, "none.sock")}, exitFailure, "nothing there"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"conform"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.want)
		})
	}

	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"conform", "--list"}, strings.NewReader(""), &stdout, &stderr), stderr.String())
	for _, c := range conform.Cases() {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(c.FullName())+`( \[needs[^\]]+\])?\n    \S`, stdout.String(), c.Name)
	}
	assert.Contains(t, stdout.String(), "fpemu/EnrollTest [needs --gatekeeper --sensor]")
}
