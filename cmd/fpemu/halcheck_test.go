package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestConformHALTargetErrors: `conform --hal X` where X is no HAL says
// what X is and suggests --device, at once (the probe of a socket is
// bounded, never a hang): a directory or a regular file is a usage error
// (exit 2); a missing path, Keymaster's CA→TA socket, a socket that
// accepts and says nothing, and a gRPC server without the HAL's service
// exit 1.
func TestConformHALTargetErrors(t *testing.T) {
	bin := builtFpemu(t)
	ctx := testkit.Context(t, 2*time.Minute)
	devDir := testkit.ShortDir(t)
	d := startDeviceUp(t, ctx, bin, devDir)
	var km string
	for _, p := range d.info.TAs {
		if p.Role == "keymaster" {
			km = p.Socket
		}
	}
	require.NotEmpty(t, km)

	tmp := testkit.ShortDir(t)
	regular := filepath.Join(tmp, "hal.txt")
	require.NoError(t, os.WriteFile(regular, []byte("not a socket"), 0o600))
	silent := listenSilent(t, filepath.Join(tmp, "silent.sock"))
	grpcOnly := serveEmptyGRPC(t, filepath.Join(tmp, "grpc.sock"))

	const suggest = "pass --device DEVICE_DIR"
	tests := []struct {
		name, hal string
		code      int
		want      string
		within    time.Duration
	}{
		{"directory", devDir, exitUsage, "--hal " + devDir + ": a directory, not a socket", time.Second},
		{"regular file", regular, exitUsage, "--hal " + regular + ": a regular file, not a socket", time.Second},
		{"missing", filepath.Join(tmp, "nope.sock"), 1, "nothing there (no such file; is the device up?)", time.Second},
		{"keymaster socket", km, 1, "a socket that does not speak the HAL's gRPC: it closed on an HTTP/2 preface (a CA→TA socket such as Keymaster's?)", 2 * time.Second},
		{"silent socket", silent, 1, "a socket that does not speak the HAL's gRPC: no answer to an HTTP/2 preface within 2s", halProbeTimeout + 2*time.Second},
		{"other gRPC server", grpcOnly, 1, "a gRPC server without the fingerprint HAL's service (UNIMPLEMENTED)", halProbeTimeout + 2*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run([]string{"conform", "--hal", tc.hal, "--run", "ConnectTest"}, nil, &stdout, &stderr)
			assert.Less(t, time.Since(start), tc.within, "must not hang")
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.want)
			assert.Contains(t, stderr.String(), suggest)
			assert.Empty(t, stdout.String(), "no report for a target that is no HAL")
		})
	}

	// The real HAL passes the probe.
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"conform", "--hal", d.info.HAL.Socket, "--run", "^vts/ConnectTest$"}, nil, &stdout, &stderr), stderr.String())
	d.interrupt(t, ctx)
}

// listenSilent is a Unix socket that accepts connections and never
// writes; closed when the test ends.
func listenSilent(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return path
}

// serveEmptyGRPC is a gRPC server with no service registered.
func serveEmptyGRPC(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := grpc.NewServer()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return path
}
