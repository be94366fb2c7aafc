package devdir

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListen(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string) (cleanup func())
		wantErr error
		wantMsg string
		keep    bool // what was at the path is still there, untouched
	}{
		{"fresh", func(*testing.T, string) func() { return func() {} }, nil, "", false},
		{"stale socket of a dead process is not removed", func(t *testing.T, path string) func() {
			ln, err := net.Listen("unix", path)
			require.NoError(t, err)
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close()
			return func() {}
		}, ErrSocketInUse, "", true},
		{"live socket", func(t *testing.T, path string) func() {
			ln, err := net.Listen("unix", path)
			require.NoError(t, err)
			return func() { ln.Close() }
		}, ErrSocketInUse, "", true},
		{"not a socket", func(t *testing.T, path string) func() {
			require.NoError(t, os.WriteFile(path, []byte("keep me"), 0o600))
			return func() {}
		}, nil, "not a socket", true},
		{"symlink planted", func(t *testing.T, path string) func() {
			require.NoError(t, os.Symlink(filepath.Join(filepath.Dir(path), "elsewhere.sock"), path))
			return func() {}
		}, ErrUnsafeDir, "is a symbolic link", true},
		{"group-writable socket dir", func(t *testing.T, path string) func() {
			require.NoError(t, os.Chmod(filepath.Dir(path), 0o770))
			return func() {}
		}, ErrUnsafeDir, "chmod 700", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "tpl")
			require.NoError(t, err)
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, "sock", "x.sock")
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
			defer tc.prepare(t, path)()
			before, _ := os.Lstat(path)
			ln, err := Listen(path)
			if tc.wantErr != nil || tc.wantMsg != "" {
				require.Error(t, err)
				assert.Nil(t, ln)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				assert.ErrorContains(t, err, tc.wantMsg)
				after, lerr := os.Lstat(path)
				if tc.keep {
					require.NoError(t, lerr)
					assert.True(t, os.SameFile(before, after), "what was at the path is left alone")
				} else {
					assert.ErrorIs(t, lerr, os.ErrNotExist, "nothing created")
				}
				assert.NoFileExists(t, filepath.Join(filepath.Dir(path), "elsewhere.sock"))
				return
			}
			require.NoError(t, err)
			fi, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, os.ModeSocket|0o600, fi.Mode()&(os.ModeSocket|os.ModePerm))
			c, err := net.Dial("unix", path)
			require.NoError(t, err)
			cred, err := PeerCred(c)
			require.NoError(t, err)
			assert.Equal(t, os.Getpid(), int(cred.Pid), "SO_PEERCRED names the listener")
			c.Close()
			require.NoError(t, ln.Close())
			assert.FileExists(t, path, "Close does not unlink")
			require.NoError(t, ln.Unlink())
			assert.NoFileExists(t, path)
		})
	}
}

// TestListenerUnlinkOnlyItsOwn: a socket file replaced since Listen bound
// it is not the listener's to remove.
func TestListenerUnlinkOnlyItsOwn(t *testing.T) {
	dir, err := os.MkdirTemp("", "tpl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.sock")
	require.NoError(t, os.Chmod(dir, 0o700))
	ln, err := Listen(path)
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, os.Remove(path))
	other, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, ln.Unlink())
	fi, err := os.Lstat(path)
	require.NoError(t, err, "the other process's socket is still there")
	assert.NotZero(t, fi.Mode()&os.ModeSocket)
}
