package keyshare

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/tee/devdir"
)

// WriteFile writes one share to a new file (O_EXCL, mode 0600, synced):
// an existing share is never overwritten.
func WriteFile(path string, s Share) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("keyshare: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("keyshare: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("keyshare: sync %s: %w", path, err)
	}
	return f.Close()
}

// ReadFile reads one share file: a regular file of the user with one
// link (tee/devdir.CheckFile), not readable by group or others, at most
// MaxEncodedSize bytes, that Parse accepts.
func ReadFile(path string) (Share, error) {
	if err := devdir.CheckFile(path); err != nil {
		return Share{}, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Share{}, fmt.Errorf("keyshare: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Share{}, fmt.Errorf("keyshare: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Share{}, fmt.Errorf("keyshare: %s has mode %v; want 0600", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxEncodedSize+1))
	if err != nil {
		return Share{}, fmt.Errorf("keyshare: read %s: %w", path, err)
	}
	s, err := Parse(b)
	if err != nil {
		return Share{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
