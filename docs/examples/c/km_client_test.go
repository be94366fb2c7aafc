// Package example_test builds the C client of docs/examples/c with gcc and
// runs it against a launched device: the proof that docs/protocol.md is
// enough to write an fpemu CA without Go.
package example_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// child switches the test binary into a TA process (devchild.ModeTA, the
// real TA of the child's role, as `fpemu ta <role>` runs it).
const child devchild.Switch = "FPEMU_CEXAMPLE_TEST_CHILD"

func TestMain(m *testing.M) {
	child.Main(m, devchild.Levels{TA: zapcore.InfoLevel, HAL: zapcore.InfoLevel})
}

// buildClient compiles km_client.c with warnings as errors.
func buildClient(t *testing.T) string {
	t.Helper()
	// CI must prove the protocol is speakable from C, not skip it.
	gcc := testkit.NeedCommand(t, "gcc", "the C client (and cgo)")
	bin := filepath.Join(t.TempDir(), "km_client")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
		"-O2", "-o", bin, filepath.Join("src", "km_client.c")).CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)
	return bin
}

func bootKeymaster(t *testing.T) *device.Device {
	t.Helper()
	dir := testkit.ShortDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := device.Boot(ctx, device.Config{
		Dir:     dir,
		Roles:   []tee.Role{tee.RoleKeymaster},
		Command: child.TACommand(dir),
		Log:     zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		assert.NoError(t, d.Shutdown(ctx))
	})
	return d
}

// fields parses "name: k=v k=v" lines into name → k → v.
func fields(out string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		m[name] = kv
	}
	return m
}

func TestCClientAgainstKeymasterProcess(t *testing.T) {
	bin := buildClient(t)
	d := bootKeymaster(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, d.SocketPath(tee.RoleKeymaster))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	require.NoError(t, err, "km_client failed:\n%s%s", out, stderr.String())
	t.Logf("km_client output:\n%s", out)
	require.True(t, strings.HasSuffix(out, "\nok\n"), out)

	f := fields(out)
	want := map[string]map[string]string{
		"open_session":             {"result": "0x00000000", "origin": "4", "session": "1"},
		"get_auth_token_key_short": {"result": "0xffff0010", "origin": "4", "needed": fmt.Sprint(kmproto.AuthTokenKeyEnvelopeSize)},
		"get_auth_token_key": {
			"result": "0x00000000", "origin": "4", "envelope_len": "109", "version": "1",
			"from": tee.UUIDKeymaster.String(), "to": tee.UUIDGatekeeper.String(),
			"type": "1", "seq_nonzero": "1", "payload_len": "32",
		},
		"get_auth_token_key_denied": {"result": "0xffff0001", "origin": "4", "envelope_len": "0"},
		"generate_key":              {"result": "0x00000000", "origin": "4"},
		"begin":                     {"result": "0x00000000", "origin": "4", "handle_nonzero": "1"},
		"finish":                    {"result": "0x00000000", "origin": "4"},
		"unknown_command":           {"result": "0xffff000a", "origin": "4"},
		"close_session":             {"result": "0x00000000", "origin": "3"},
	}
	for step, kv := range want {
		for k, v := range kv {
			assert.Equal(t, v, f[step][k], "%s %s\n%s", step, k, out)
		}
	}
	assert.NotContains(t, out, "UNEXPECTED")

	// The signature the C client got verifies with the public key it got:
	// the bytes crossed both directions of the protocol intact.
	pub, err := hex.DecodeString(f["generate_key"]["public_key"])
	require.NoError(t, err)
	msg, err := hex.DecodeString(f["finish"]["message"])
	require.NoError(t, err)
	sig, err := hex.DecodeString(f["finish"]["signature"])
	require.NoError(t, err)
	require.Equal(t, "hello from C", string(msg))
	require.NoError(t, kmproto.VerifySignature(kmproto.CurveP256, pub, msg, sig))
	require.Regexp(t, regexp.MustCompile(`^30`), f["finish"]["signature"])
}

// TestCClientTargetDead: the C client against a socket nobody serves any
// more reports a connection failure (exit 2) instead of hanging.
func TestCClientTargetDead(t *testing.T) {
	bin := buildClient(t)
	d := bootKeymaster(t)
	sock := d.SocketPath(tee.RoleKeymaster)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, d.Shutdown(ctx))

	cmd := exec.CommandContext(ctx, bin, sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "must not hang")
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, stderr.String(), "connect")
}
