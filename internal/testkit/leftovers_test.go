package testkit

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

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
	_ = cmd.Wait()
	assert.Empty(t, Leftovers(dir))
}
