package boot

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FusedKeyFile is the name of the fused key file in a device directory.
const FusedKeyFile = "fused.key"

// LoadOrCreateFusedKey returns the fused key of the device directory dir,
// creating DIR/fused.key with FusedKeySize bytes from crypto/rand on first
// boot (created reports that). An existing file is refused unless it is a
// regular file (not a symlink) owned by the current user with no group or
// other permission bits (ErrFusedKeyMode) and exactly FusedKeySize bytes
// long (ErrFusedKeySize) — the rule ssh applies to private keys.
//
// Creation is atomic: the key is written to a private temporary file,
// synced, and hard-linked into place, so a crash leaves either no key or a
// whole one, and of two launchers racing on first boot one key wins and
// both use it.
func LoadOrCreateFusedKey(dir string) (key FusedKey, created bool, err error) {
	path := filepath.Join(dir, FusedKeyFile)
	key, err = LoadFusedKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := createFusedKey(dir, path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return FusedKey{}, false, err
		}
		created = false // lost a race: use the winner's key
	} else {
		created = true
	}
	key, err = LoadFusedKey(path)
	return key, created && err == nil, err
}

// createFusedKey writes a fresh key to a temporary file and links it to
// path; it fails with fs.ErrExist if path already exists.
func createFusedKey(dir, path string) error {
	var k FusedKey
	defer clear(k[:])
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return fmt.Errorf("boot: draw fused key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".fused.key.*") // mode 0600
	if err != nil {
		return fmt.Errorf("boot: create fused key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("boot: create fused key: %w", err)
	}
	if _, err := tmp.Write(k[:]); err != nil {
		tmp.Close()
		return fmt.Errorf("boot: write fused key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("boot: sync fused key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("boot: close fused key: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		return fmt.Errorf("boot: install fused key: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // persist the new directory entry
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadFusedKey reads and checks an existing fused key file (see
// LoadOrCreateFusedKey for the rules). A missing file is an error wrapping
// fs.ErrNotExist.
func LoadFusedKey(path string) (FusedKey, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return FusedKey{}, fmt.Errorf("%w: %s is a symbolic link", ErrFusedKeyMode, path)
		}
		return FusedKey{}, fmt.Errorf("boot: open fused key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // fstat: checks the file actually opened
	if err != nil {
		return FusedKey{}, fmt.Errorf("boot: stat fused key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return FusedKey{}, fmt.Errorf("%w: %s is not a regular file", ErrFusedKeyMode, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return FusedKey{}, fmt.Errorf("%w: %s has mode %04o", ErrFusedKeyMode, path, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return FusedKey{}, fmt.Errorf("%w: %s is owned by uid %d, not %d", ErrFusedKeyMode, path, st.Uid, os.Geteuid())
	}
	var buf [FusedKeySize + 1]byte
	defer clear(buf[:])
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return FusedKey{}, fmt.Errorf("boot: read fused key: %w", err)
	}
	if n != FusedKeySize {
		size := fmt.Sprintf("%d", n)
		if n > FusedKeySize {
			size = "more than " + fmt.Sprint(FusedKeySize)
		}
		return FusedKey{}, fmt.Errorf("%w: %s has %s bytes, want %d", ErrFusedKeySize, path, size, FusedKeySize)
	}
	var k FusedKey
	copy(k[:], buf[:FusedKeySize])
	return k, nil
}
