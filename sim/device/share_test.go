package device

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

// modeGroup returns path's permission bits and group, without following
// a link.
func modeGroup(t *testing.T, path string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	return fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid
}

// TestClientGroupSharesOnlyClientSockets: with Config.ClientGroup the
// device directory and sock/ are 0710 and every CA→TA socket 0660 with
// that group, while the sensor-control socket, data/ and rpmb/ stay the
// launcher user's alone; a later boot without it makes the directory
// private again.
func TestClientGroupSharesOnlyClientSockets(t *testing.T) {
	gid := appsGroup
	if os.Geteuid() != 0 {
		gid = os.Getegid() // chgrp to a group of our own needs no privilege
	}
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleFingerprint, tee.RolePayment}
		c.ClientGroup = &gid
	})
	dir := d.Dir()
	for _, p := range []string{dir, filepath.Join(dir, devdir.SockDirName)} {
		mode, g := modeGroup(t, p)
		assert.Equal(t, os.FileMode(0o710), mode, p)
		assert.Equal(t, uint32(gid), g, p)
	}
	for _, r := range []tee.Role{tee.RoleKeymaster, tee.RoleFingerprint, tee.RolePayment} {
		mode, g := modeGroup(t, d.SocketPath(r))
		assert.Equal(t, os.FileMode(0o660), mode, r)
		assert.Equal(t, uint32(gid), g, r)
	}
	mode, _ := modeGroup(t, SensorSocketPath(dir))
	assert.Equal(t, os.FileMode(0o600), mode, "the sensor stays the owner's")
	for _, p := range []string{"data", "rpmb", "data/payment", "rpmb/payment"} {
		mode, _ := modeGroup(t, filepath.Join(dir, p))
		assert.Equal(t, os.FileMode(0o700), mode, p)
	}
	// The launcher still knows its shared sockets as its own: it removes
	// them at shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, d.Shutdown(ctx))
	assert.NoFileExists(t, d.SocketPath(tee.RolePayment))

	d2 := bootDevice(t, func(c *Config) { c.Dir = dir; c.Command = taCommand(dir); c.Roles = []tee.Role{tee.RoleKeymaster} })
	mode, _ = modeGroup(t, d2.Dir())
	assert.Equal(t, os.FileMode(0o700), mode, "booted without a client group: private again")
	mode, _ = modeGroup(t, d2.SocketPath(tee.RoleKeymaster))
	assert.Equal(t, os.FileMode(0o600), mode)
}

func TestClientGroupRejectsNegative(t *testing.T) {
	gid := -5
	_, err := Boot(context.Background(), Config{Dir: shortDir(t), Command: taCommand(t.TempDir()), ClientGroup: &gid})
	require.ErrorIs(t, err, ErrClientGroup)
}
