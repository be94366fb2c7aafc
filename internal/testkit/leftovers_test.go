package testkit

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLeftovers: a socket below dir and a live process naming dir are
// listed; once the listener is closed and the process reaped, nothing is.
func TestLeftovers(t *testing.T) {
	dir := ShortDir(t)
	assert.Empty(t, Leftovers(dir))

	sock := filepath.Join(dir, "x.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	cmd := exec.Command("sh", "-c", "sleep 30", dir) // $0 = dir: its command line names dir
	require.NoError(t, cmd.Start())
	left := Leftovers(dir)
	assert.Contains(t, left, "socket "+sock)
	assert.Contains(t, left, "process "+strconv.Itoa(cmd.Process.Pid)+": sh -c sleep 30 "+dir)

	require.NoError(t, l.Close())
	require.NoError(t, cmd.Process.Kill())
	_, err = cmd.Process.Wait()
	require.NoError(t, err)
	// Reaped; on a loaded machine /proc may show the pid a moment longer.
	assert.Eventually(t, func() bool { return len(Leftovers(dir)) == 0 }, 5*time.Second, 10*time.Millisecond, "%v", Leftovers(dir))
}

// TestLeftoversMatchesWholeDir: a process of another directory whose name
// merely starts with dir's (os.MkdirTemp names differ in length) is not
// dir's leftover; dir itself, a path below it and dir at the end of an
// option are.
func TestLeftoversMatchesWholeDir(t *testing.T) {
	tests := []struct {
		cmdline string
		want    bool
	}{
		{"sh\x00-c\x00sleep 30\x00/tmp/fpt12", true},
		{"fpemu\x00device\x00up\x00--dir\x00/tmp/fpt12/dev", true},
		{"fpemu\x00--dir=/tmp/fpt12", true},
		{"sh\x00-c\x00sleep 30\x00/tmp/fpt123", false},
		{"x\x00/tmp/fpt12.sock", false},
		{"x\x00/tmp/fpt123\x00/tmp/fpt12", true},
		{"x", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, mentions(tc.cmdline, "/tmp/fpt12"), "%q", tc.cmdline)
	}
}
