package boot

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFusedKeyFirstBootThenLoad(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateFusedKey(dir)
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotEqual(t, FusedKey{}, k1)

	fi, err := os.Stat(filepath.Join(dir, FusedKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, int64(FusedKeySize), fi.Size())
	raw, err := os.ReadFile(filepath.Join(dir, FusedKeyFile))
	require.NoError(t, err)
	assert.Equal(t, k1[:], raw)

	k2, created, err := LoadOrCreateFusedKey(dir)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, k1, k2, "the fused key survives reboots")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	k3, _, err := LoadOrCreateFusedKey(t.TempDir())
	require.NoError(t, err)
	assert.NotEqual(t, k1, k3, "each device gets its own key")
}

func TestFusedKeyConcurrentFirstBoot(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([]FusedKey, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, c, err := LoadOrCreateFusedKey(dir)
			assert.NoError(t, err)
			keys[i], created[i] = k, c
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		assert.Equal(t, keys[0], keys[i])
		if created[i] {
			nCreated++
		}
	}
	assert.Equal(t, 1, nCreated)
}

func writeKeyFile(t *testing.T, size int, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, FusedKeyFile)
	b := make([]byte, size)
	for i := range b {
		b[i] = 0xA7
	}
	require.NoError(t, os.WriteFile(p, b, 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return dir
}

func TestFusedKeyRefused(t *testing.T) {
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want error
	}{
		{"empty", func(t *testing.T) string { return writeKeyFile(t, 0, 0o600) }, ErrFusedKeySize},
		{"short", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize-1, 0o600) }, ErrFusedKeySize},
		{"long", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize+1, 0o600) }, ErrFusedKeySize},
		{"much longer", func(t *testing.T) string { return writeKeyFile(t, 4096, 0o600) }, ErrFusedKeySize},
		{"world readable", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize, 0o604) }, ErrFusedKeyMode},
		{"group readable", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize, 0o640) }, ErrFusedKeyMode},
		{"0644", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize, 0o644) }, ErrFusedKeyMode},
		{"group writable", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize, 0o620) }, ErrFusedKeyMode},
		{"other exec", func(t *testing.T) string { return writeKeyFile(t, FusedKeySize, 0o601) }, ErrFusedKeyMode},
		{"wrong size and mode", func(t *testing.T) string { return writeKeyFile(t, 3, 0o666) }, ErrFusedKeyMode},
		{"symlink", func(t *testing.T) string {
			target := writeKeyFile(t, FusedKeySize, 0o600)
			dir := t.TempDir()
			require.NoError(t, os.Symlink(filepath.Join(target, FusedKeyFile), filepath.Join(dir, FusedKeyFile)))
			return dir
		}, ErrFusedKeyMode},
		{"directory", func(t *testing.T) string {
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, FusedKeyFile), 0o700))
			return dir
		}, ErrFusedKeyMode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t)
			k, created, err := LoadOrCreateFusedKey(dir)
			require.ErrorIs(t, err, c.want)
			assert.False(t, created)
			assert.Equal(t, FusedKey{}, k, "no partial result")
			assert.NotContains(t, err.Error(), "a7a7")
			// The bad file is left alone, never replaced by a new key.
			_, err = LoadFusedKey(filepath.Join(dir, FusedKeyFile))
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestFusedKeyOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	dir := writeKeyFile(t, FusedKeySize, 0o600)
	require.NoError(t, os.Chown(filepath.Join(dir, FusedKeyFile), 4242, 4242))
	_, _, err := LoadOrCreateFusedKey(dir)
	require.ErrorIs(t, err, ErrFusedKeyMode)
}

func TestFusedKeyMissingDir(t *testing.T) {
	_, _, err := LoadOrCreateFusedKey(filepath.Join(t.TempDir(), "nope"))
	require.Error(t, err)
}

func TestFusedKeyAcceptsOwnerOnlyModes(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		dir := writeKeyFile(t, FusedKeySize, mode)
		k, created, err := LoadOrCreateFusedKey(dir)
		require.NoError(t, err, "mode %04o", mode)
		assert.False(t, created)
		assert.Equal(t, "a7a7", hex.EncodeToString(k[:2]))
	}
}
