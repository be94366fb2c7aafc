package devdir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

func TestCheckOwnedDir(t *testing.T) {
	tests := []struct {
		name     string
		make     func(t *testing.T, p string)
		root     bool
		wantFix  string // "" = accepted
		wantWhat string
	}{
		{"0700 of mine", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, false, "", ""},
		{"0755 of mine", func(t *testing.T, p string) {
			require.NoError(t, os.Mkdir(p, 0o700))
			require.NoError(t, os.Chmod(p, 0o755))
		}, false, "", ""},
		{"group-writable", func(t *testing.T, p string) {
			require.NoError(t, os.Mkdir(p, 0o700))
			require.NoError(t, os.Chmod(p, 0o770))
		}, false, "chmod 700 ", "group- or other-writable (mode 0770)"},
		{"other-writable", func(t *testing.T, p string) {
			require.NoError(t, os.Mkdir(p, 0o700))
			require.NoError(t, os.Chmod(p, 0o1777))
		}, false, "chmod 700 ", "group- or other-writable"},
		{"symlink to a good dir", func(t *testing.T, p string) {
			require.NoError(t, os.Mkdir(p+".real", 0o700))
			require.NoError(t, os.Symlink(p+".real", p))
		}, false, "give the real directory", "is a symbolic link"},
		{"a file", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, nil, 0o600)) }, false, "remove it", "is not a directory"},
		{"another user's", func(t *testing.T, p string) {
			require.NoError(t, os.Mkdir(p, 0o700))
			require.NoError(t, os.Chown(p, testkit.Nobody, testkit.Nobody))
		}, true, "use a directory of your own", "owned by uid 65534"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testkit.NeedRoot(t)
			}
			p := filepath.Join(t.TempDir(), "dev")
			tc.make(t, p)
			err := CheckOwnedDir(p)
			if tc.wantFix == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnsafeDir)
			var ue *UnsafeError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, p, ue.Path)
			assert.Contains(t, ue.Fix, tc.wantFix)
			assert.Contains(t, err.Error(), tc.wantWhat)
			assert.Contains(t, err.Error(), "fix: ")
		})
	}
}

func TestPrepareDeviceDir(t *testing.T) {
	t.Run("creates 0700 with parents", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "a", "dev")
		require.NoError(t, PrepareDeviceDir(p))
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		assert.Equal(t, os.ModeDir|0o700, fi.Mode()&(os.ModeDir|os.ModePerm))
	})
	t.Run("existing loose dir refused and left as is", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "dev")
		require.NoError(t, os.Mkdir(p, 0o700))
		require.NoError(t, os.Chmod(p, 0o777))
		require.ErrorIs(t, PrepareDeviceDir(p), ErrUnsafeDir)
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o777), fi.Mode().Perm(), "not silently chmod-ed")
	})
}

func TestEnsureDirRefusesPlantedLinks(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o700))
	target := t.TempDir()
	require.NoError(t, os.Symlink(target, filepath.Join(root, DataDirName)))
	_, err := EnsureDir(root, DataDirName, "fingerprint")
	require.ErrorIs(t, err, ErrUnsafeDir)
	assert.Contains(t, err.Error(), "is a symbolic link")
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing created through the link")

	p, err := EnsureDir(root, RPMBDirName, "fingerprint")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, RPMBDirName, "fingerprint"), p)
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, want string
		make       func(t *testing.T, p string)
	}{
		{"absent", "", func(*testing.T, string) {}},
		{"regular", "", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, nil, 0o600)) }},
		{"symlink", "is a symbolic link", func(t *testing.T, p string) { require.NoError(t, os.Symlink("/etc/passwd", p)) }},
		{"dangling symlink", "is a symbolic link", func(t *testing.T, p string) { require.NoError(t, os.Symlink(p+".nowhere", p)) }},
		{"directory", "is not a regular file", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }},
		{"hard link", "has 2 hard links", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p+".orig", nil, 0o600))
			require.NoError(t, os.Link(p+".orig", p))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			tc.make(t, p)
			err := CheckFile(p)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnsafeDir)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
