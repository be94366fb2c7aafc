package main

import (
	"context"
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
)

// TestDeviceUpExecStartFailures: a vendor binary that exits before READY,
// one that never writes it (and has a child of its own), and a vendor HAL
// that dies each fail `device up` with exit 1 and a message naming the
// --exec value, its exit status and its stderr tail — promptly, with
// every process (the vendor's, its children, fpemu's TAs) gone and no
// socket left.
func TestDeviceUpExecStartFailures(t *testing.T) {
	bin := builtFpemu(t)
	tests := []struct {
		name, role, script string
		args               []string
		want               []string
	}{
		{
			name: "exits before ready", role: "keymaster",
			script: `echo "acme: no HSM attached (argv: $*)" >&2; exit 3`,
			want:   []string{"exited before it was ready", "exit status 3", "acme: no HSM attached (argv: ta keymaster --dir "},
		},
		{
			name: "never ready", role: "gatekeeper", args: []string{"--ready-timeout", "1s"},
			script: `sleep 60 & echo $! > "$PIDS.child"; echo $$ > "$PIDS"; echo "acme: waiting for a debugger" >&2; wait`,
			want:   []string{"did not become ready in time", "signal: killed", "acme: waiting for a debugger"},
		},
		{
			name: "garbage readiness", role: "payment",
			script: `echo $$ > "$PIDS"; printf 'OK\n' >&4; sleep 60`,
			want:   []string{"malformed readiness line"},
		},
		{
			name: "hal exits", role: "hal",
			script: `echo "acme hal: cannot open /dev/acme_fp" >&2; exit 1`,
			want:   []string{"exited before it was ready", "exit status 1", "acme hal: cannot open /dev/acme_fp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := shortTempDir(t)
			dir := filepath.Join(tmp, "d")
			pids := filepath.Join(tmp, "pid")
			exe := filepath.Join(tmp, "acme-"+tc.role)
			require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o700))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"device", "up", "--dir", dir, "--exec", tc.role + "=" + exe}, tc.args...)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "PIDS="+pids)
			start := time.Now()
			code, out, stderr := runCmd(t, cmd)
			require.NoError(t, ctx.Err(), "device up hung")
			assert.Less(t, time.Since(start), 20*time.Second)
			assert.Equal(t, exitFailure, code, stderr)
			assert.Empty(t, out, "nothing is reported up")
			assert.Contains(t, stderr, "--exec "+tc.role+"="+exe+": the vendor binary for "+tc.role+" failed to start")
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
			// Nothing of the vendor's survives: the process and its child.
			for _, f := range []string{pids, pids + ".child"} {
				b, err := os.ReadFile(f)
				if os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err)
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				require.NoError(t, err)
				assert.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH }, 5*time.Second, 20*time.Millisecond, "pid %d (%s) is gone", pid, f)
			}
			// Nor of fpemu's: no socket is left and the device can boot again.
			_, err := os.Stat(filepath.Join(dir, "sock"))
			assert.True(t, os.IsNotExist(err), "sock/ removed: %v", err)
			ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel2()
			up := startDeviceUp(t, ctx2, bin, dir)
			up.interrupt(t, ctx2)
		})
	}
}
