package main

import (
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tokens"
)

// helperJSON runs a device helper with --json and decodes its one line.
func helperJSON(t *testing.T, stdin string, args ...string) (int, map[string]any, string) {
	t.Helper()
	r := fpemu(t, stdin, append(args, "--json")...)
	var obj map[string]any
	if r.stdout != "" {
		d := json.NewDecoder(strings.NewReader(r.stdout))
		d.UseNumber()
		require.NoError(t, d.Decode(&obj), r.stdout)
		assert.False(t, d.More(), "one JSON object: %s", r.stdout)
	}
	return r.code, obj, r.stderr
}

// TestGatekeeperHelper drives a device's Gatekeeper TA through `fpemu
// gatekeeper` as a harness would: enroll, verify to a PASSWORD HAT for a
// challenge, re-enroll, and each failure with its exit status and JSON.
func TestGatekeeperHelper(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	dir := shortTempDir(t)
	bootTAs(t, ctx, dir, tee.RoleKeymaster, tee.RoleGatekeeper)
	const pin = "1234\x01 secret"

	// enroll: the handle as hex, or JSON with the SID.
	r := fpemu(t, pin+"\n", "gatekeeper", "enroll", "--device", dir, "--uid", "10")
	require.Equal(t, exitOK, r.code, r.stderr)
	handleHex := strings.TrimSpace(r.stdout)
	hb, err := hex.DecodeString(handleHex)
	require.NoError(t, err)
	h, err := gkproto.ParseHandle(hb)
	require.NoError(t, err)

	// verify: the HAT as hex ...
	r = fpemu(t, pin, "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", handleHex, "--challenge", "0x1234")
	require.Equal(t, exitOK, r.code, r.stderr)
	tok, err := tokens.ParseHex(strings.TrimSpace(r.stdout))
	require.NoError(t, err)
	assert.Equal(t, tokens.AuthPassword, tok.AuthenticatorType)
	assert.Equal(t, h.UserID, tok.UserID)
	assert.EqualValues(t, 0x1234, tok.Challenge)

	// ... or JSON whose "token" is what `fpemu token decode` prints.
	handleFile := filepath.Join(t.TempDir(), "handle.hex")
	require.NoError(t, os.WriteFile(handleFile, []byte(handleHex+"\n"), 0o600))
	code, obj, stderr := helperJSON(t, pin+"\n", "gatekeeper", "verify", "--socket", devdir.SocketPath(dir, tee.RoleGatekeeper),
		"--uid", "10", "--handle-file", handleFile, "--challenge", "18446744073709551615")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, true, obj["ok"])
	assert.Equal(t, "STATUS_OK", obj["status"])
	assert.Equal(t, json.Number("18446744073709551615"), obj["challenge"])
	dec := fpemu(t, "", "token", "decode", obj["hat"].(string))
	require.Equal(t, exitOK, dec.code)
	js, err := json.Marshal(obj["token"])
	require.NoError(t, err)
	assert.JSONEq(t, dec.stdout, string(js))

	// A trusted re-enroll keeps the SID: current password, then the new one.
	code, obj, stderr = helperJSON(t, pin+"\nnew-pin\n", "gatekeeper", "enroll", "--device", dir, "--uid", "10", "--current-handle", handleHex)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, json.Number(strings.TrimSpace(jsonUint(h.UserID))), obj["sid"])
	newHandle := obj["handle"].(string)
	assert.NotEqual(t, handleHex, newHandle)

	// The password also comes from a file or an inherited descriptor.
	pwFile := filepath.Join(t.TempDir(), "pin")
	require.NoError(t, os.WriteFile(pwFile, []byte("new-pin"), 0o600))
	r = fpemu(t, "", "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", newHandle, "--password-file", pwFile)
	require.Equal(t, exitOK, r.code, r.stderr)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	_, err = pw.WriteString("new-pin\n")
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	fd, err := dupFD(pr)
	require.NoError(t, err)
	require.NoError(t, pr.Close())
	r = fpemu(t, "", "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", newHandle, "--password-fd", fd)
	require.Equal(t, exitOK, r.code, r.stderr)

	// Wrong password: exit 1, wrong_password. Gatekeeper throttles from
	// the 5th failure on: exit 3, retry_timeout with the timeout, and the
	// right password is throttled too.
	for i := 1; i <= 4; i++ {
		code, obj, stderr = helperJSON(t, "0000\n", "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", newHandle)
		require.Equal(t, exitFailure, code, "attempt %d: %s", i, stderr)
		assert.Equal(t, "wrong_password", obj["error"])
		assert.Equal(t, false, obj["ok"])
		assert.Equal(t, "ERROR_GENERAL_FAILURE", obj["status"])
		assert.Contains(t, stderr, "fpemu gatekeeper verify: gatekeeper VERIFY: gatekeeper: ERROR_GENERAL_FAILURE")
	}
	for _, pw := range []string{"0000", "new-pin"} {
		code, obj, stderr = helperJSON(t, pw, "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", newHandle)
		require.Equal(t, exitThrottled, code, stderr)
		assert.Equal(t, "retry_timeout", obj["error"])
		assert.Equal(t, "ERROR_RETRY_TIMEOUT", obj["status"])
		ms, err := obj["retry_timeout_ms"].(json.Number).Int64()
		require.NoError(t, err)
		assert.Positive(t, ms)
		assert.LessOrEqual(t, ms, int64(30*time.Second/time.Millisecond))
	}
	r = fpemu(t, "new-pin", "gatekeeper", "verify", "--device", dir, "--uid", "10", "--handle", newHandle)
	assert.Equal(t, exitThrottled, r.code)
	assert.Contains(t, r.stderr, "retry in")

	// No secret reaches an output, whatever the outcome.
	for _, out := range []string{r.stdout, r.stderr, stderr} {
		assert.NotContains(t, out, "new-pin")
		assert.NotContains(t, out, "0000")
	}
}

func jsonUint(v uint64) string { b, _ := json.Marshal(v); return string(b) }

// dupFD duplicates f's descriptor for --password-fd (the command closes
// it) and returns its number.
func dupFD(f *os.File) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var fd int
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return "", err
	}
	return strings.TrimSpace(jsonUint(uint64(fd))), derr
}

// TestDeviceHelpersUnreachable: a missing socket, a directory that is no
// device, a file that is not a socket, a socket serving another TA and a
// peer that does not speak the CA→TA protocol are all exit 4, told apart
// by "error".
func TestDeviceHelpersUnreachable(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	dir := shortTempDir(t)
	bootTAs(t, ctx, dir, tee.RoleKeymaster, tee.RoleGatekeeper)
	handle := strings.Repeat("00", gkproto.HandleSize)
	handle = "02" + handle[2:]
	other := shortTempDir(t)
	plain := filepath.Join(other, "plain")
	require.NoError(t, os.WriteFile(plain, nil, 0o600))
	mute := filepath.Join(other, "mute.sock")
	ln, err := net.Listen("unix", mute)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = c.Close()
		}
	}()

	for _, tc := range []struct {
		name   string
		target []string
		kind   string
	}{
		{"missing socket", []string{"--socket", filepath.Join(other, "nope.sock")}, "unreachable"},
		{"not a device", []string{"--device", other}, "unreachable"},
		{"not a socket", []string{"--socket", plain}, "not_a_ta"},
		{"another TA", []string{"--socket", devdir.SocketPath(dir, tee.RoleKeymaster)}, "wrong_ta"},
		{"not the protocol", []string{"--socket", mute}, "not_a_ta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				append([]string{"gatekeeper", "enroll"}, tc.target...),
				append([]string{"gatekeeper", "verify", "--handle", handle}, tc.target...),
				append([]string{"sensor", "status"}, tc.target...),
				append([]string{"sensor", "present", "--seed", "1"}, tc.target...),
			} {
				if args[0] == "sensor" && tc.name == "another TA" {
					args[len(args)-1] = devdir.SocketPath(dir, tee.RoleGatekeeper)
				}
				code, obj, stderr := helperJSON(t, "pw\n", append(args, "--timeout", "5s")...)
				assert.Equal(t, exitUnreachable, code, "%v: %s", args, stderr)
				assert.Equal(t, tc.kind, obj["error"], "%v: %s", args, stderr)
				assert.Equal(t, false, obj["ok"])
				assert.NotEmpty(t, obj["message"])
			}
		})
	}
}

// TestGatekeeperHelperUsage: bad invocations are exit 2 before anything is
// sent, and never echo the password.
func TestGatekeeperHelperUsage(t *testing.T) {
	dir := shortTempDir(t)
	handle := "02" + strings.Repeat("00", gkproto.HandleSize-1)
	for _, tc := range []struct {
		stdin string
		args  []string
		err   string
	}{
		{"pw\n", []string{"gatekeeper", "enroll"}, "at least one of the flags in the group [device socket] is required"},
		{"pw\n", []string{"gatekeeper", "enroll", "--device", dir, "--socket", "x"}, "none of the others can be"},
		{"", []string{"gatekeeper", "enroll", "--device", dir}, "stdin: 0 line(s), want 1"},
		{"\n", []string{"gatekeeper", "enroll", "--device", dir}, "line 1: empty password"},
		{"sekrit\nsekrit2\n", []string{"gatekeeper", "enroll", "--device", dir}, "stdin: 2 line(s), want 1"},
		{"sekrit\n", []string{"gatekeeper", "enroll", "--device", dir, "--current-handle", handle}, "stdin: 1 line(s), want 2"},
		{"sekrit\n", []string{"gatekeeper", "enroll", "--device", dir, "--current-handle", "00" + handle[2:]}, "unsupported password handle version"},
		{strings.Repeat("s", 257), []string{"gatekeeper", "enroll", "--device", dir}, "password of 257 bytes, at most 256"},
		{strings.Repeat("s", 2000), []string{"gatekeeper", "enroll", "--device", dir}, "more than 258 bytes"},
		{"sekrit", []string{"gatekeeper", "enroll", "--device", dir, "--password-file", filepath.Join(dir, "none")}, "--password-file"},
		{"sekrit", []string{"gatekeeper", "enroll", "--device", dir, "--password-fd", "-1"}, "not a descriptor"},
		{"sekrit", []string{"gatekeeper", "enroll", "--device", dir, "--password-fd", "3", "--password-file", "-"}, "none of the others"},
		{"sekrit", []string{"gatekeeper", "enroll", "--device", dir, "--timeout", "0s"}, "--timeout must be positive"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir}, "[handle handle-file] is required"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir, "--handle", "zz"}, "--handle: not hex"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir, "--handle", "00"}, "--handle: gatekeeper: password handle length"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir, "--handle", handle, "--challenge", "-1"}, "invalid argument"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir, "--handle-file", filepath.Join(dir, "none")}, "--handle-file"},
		{"sekrit", []string{"gatekeeper", "verify", "--device", dir, "--handle", handle, "extra"}, "unknown command \"extra\""},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			r := fpemu(t, tc.stdin, tc.args...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.err)
			assert.NotContains(t, r.stderr+r.stdout, "sekrit")
		})
	}
}
