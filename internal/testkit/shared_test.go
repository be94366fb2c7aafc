package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShared: the first Path builds into a fresh fpemu-bin* directory,
// the next returns the same binary without building, Remove deletes the
// directory (nothing of this build is left) and is idempotent.
func TestShared(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	s := &Shared{Pkg: "github.com/fpemu/fpemu/internal/testkit/testdata/hello"}
	t.Cleanup(func() { _ = s.Remove() })
	assert.Empty(t, s.Dir())
	exe := s.Path(t)
	dir := s.Dir()
	require.NotEmpty(t, dir)
	assert.True(t, strings.HasPrefix(filepath.Base(dir), SharedBinPrefix), dir)
	assert.Equal(t, filepath.Join(dir, "hello"), exe)
	fi, err := os.Stat(exe)
	require.NoError(t, err)
	out, err := exec.Command(exe).Output()
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(out))

	assert.Equal(t, exe, s.Path(t), "the same binary")
	fi2, err := os.Stat(exe)
	require.NoError(t, err)
	assert.Equal(t, fi.ModTime(), fi2.ModTime(), "not built again")

	require.NoError(t, s.Remove())
	_, err = os.Lstat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the build directory is gone")
	assert.Empty(t, s.Dir())
	require.NoError(t, s.Remove(), "idempotent")
}

// TestSharedFlags: Flags reach go build — here -ldflags setting the
// program's greeting — and the build lives in its own directory.
func TestSharedFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	plain := &Shared{Pkg: "github.com/fpemu/fpemu/internal/testkit/testdata/hello"}
	tagged := &Shared{Pkg: plain.Pkg, Flags: []string{"-ldflags", "-X main.greeting=hi"}}
	t.Cleanup(func() { _ = plain.Remove(); _ = tagged.Remove() })
	out, err := exec.Command(tagged.Path(t)).Output()
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(out))
	out, err = exec.Command(plain.Path(t)).Output()
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(out))
	assert.NotEqual(t, plain.Dir(), tagged.Dir())
}
