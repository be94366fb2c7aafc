package devdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafeDir means the device directory, or something in it, is not the
// device owner's alone: it is owned by another uid, writable by group or
// others, a symbolic link, or not the kind of file the device expects.
// The error is an *UnsafeError whose message names the fix.
var ErrUnsafeDir = errors.New("unsafe device directory")

// UnsafeError reports a path in (or of) the device directory that fpemu
// refuses to use, and how to fix it.
type UnsafeError struct {
	Path    string
	Problem string // e.g. "is group- or other-writable (mode 0775)"
	Fix     string // e.g. "chmod 700 /path"
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("devdir: %s: %s %s; fix: %s", ErrUnsafeDir, e.Path, e.Problem, e.Fix)
}

// Is makes errors.Is(err, ErrUnsafeDir) true.
func (e *UnsafeError) Is(target error) bool { return target == ErrUnsafeDir }

// CheckOwnedDir checks, without following a symbolic link (lstat), that
// path is a directory owned by the effective uid and not writable by
// group or others — so that nobody but the device owner can create,
// replace or plant anything in it. The threat model is another local user
// (protocol §7.7); the owner and root can do anything anyway.
func CheckOwnedDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("devdir: device directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return &UnsafeError{path, "is a symbolic link", "give the real directory, not a link to it"}
	case !fi.IsDir():
		return &UnsafeError{path, "is not a directory", "remove it or choose another path"}
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return &UnsafeError{path, fmt.Sprintf("is owned by uid %d, not by the launcher's uid %d", uid, os.Geteuid()),
			fmt.Sprintf("use a directory of your own, or chown %d %s", os.Geteuid(), path)}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeError{path, fmt.Sprintf("is group- or other-writable (mode %04o)", perm), "chmod 700 " + path}
	}
	return nil
}

// PrepareDeviceDir creates the device directory dir with mode 0700 if it
// does not exist (its parents as needed), and checks it with
// CheckOwnedDir: an existing directory is used only if it is the launcher
// user's and not group- or other-writable. It changes nothing in an
// existing directory.
func PrepareDeviceDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("devdir: device directory: %w", err)
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("devdir: device directory: %w", err)
	}
	return CheckOwnedDir(dir)
}

// EnsureDir returns root/rel…, creating each missing component with mode
// 0700 and checking every component with CheckOwnedDir (lstat: a symbolic
// link planted anywhere on the way is refused, never followed). root
// itself must already have passed CheckOwnedDir.
func EnsureDir(root string, rel ...string) (string, error) {
	p := root
	for _, name := range rel {
		p = filepath.Join(p, name)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("devdir: %w", err)
		}
		if err := CheckOwnedDir(p); err != nil {
			return "", err
		}
	}
	return p, nil
}

// CheckFile checks, without following a symbolic link (lstat), a file
// the device is about to open by path (an SQLite database and its
// journals, a counter): it must not exist, or be a regular file with one
// link owned by the effective uid. SQLite opens files by name, so this is
// what keeps it from writing through a planted link.
func CheckFile(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devdir: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &UnsafeError{path, "is a symbolic link", "remove the link (rm " + path + ")"}
	}
	if !fi.Mode().IsRegular() {
		return &UnsafeError{path, "is not a regular file", "remove it (rm " + path + ")"}
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return &UnsafeError{path, fmt.Sprintf("is owned by uid %d, not %d", uid, os.Geteuid()), "remove it (rm " + path + ")"}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return &UnsafeError{path, fmt.Sprintf("has %d hard links", st.Nlink), "remove the other links, or the file"}
	}
	return nil
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
