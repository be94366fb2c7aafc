package devdir

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrSocketInUse means a socket file is already on the path, served or
// not. Listen neither connects to it (the launcher never routes anything
// to a socket it did not start) nor removes it: only the launcher, which
// records the sockets its device's processes bound, removes one
// (protocol §7.7), so no process deletes a socket it did not create.
var ErrSocketInUse = errors.New("socket path already taken (not removed: the launcher removes only sockets its device bound)")

// Listener is a device socket bound by Listen. Its Close does not unlink
// the socket file; Unlink does, and only if the file is still the one it
// bound.
type Listener struct {
	net.Listener
	path string
	id   FileID
}

// Path is the socket file's path.
func (l *Listener) Path() string { return l.path }

// Unlink removes the socket file if it is still the one this listener
// bound (same device and inode, by lstat); a file someone else put there
// since is left alone.
func (l *Listener) Unlink() error {
	if !SameFile(l.path, l.id) {
		return nil
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("devdir: remove socket: %w", err)
	}
	return nil
}

// FileID identifies one file: device, inode and change time. The change
// time tells a file apart from a later one that reuses the freed inode
// number (file systems hand a freed inode out again at once).
type FileID struct {
	Dev, Ino uint64
	Ctime    int64 // nanoseconds
}

// Identify returns the FileID of path without following a symbolic link.
func Identify(path string) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return FileID{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return FileID{Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim.Nano()}, nil
}

// SameFile reports whether path (not followed if a symbolic link) is the
// file id.
func SameFile(path string, id FileID) bool {
	got, err := Identify(path)
	return err == nil && got == id
}

// Listen binds a device Unix socket (a TA's role or endpoint socket, the
// HAL's north-API socket) with mode 0600 in its directory, which must
// exist and pass CheckOwnedDir (protocol §7.2 step 4, §7.7). The path must
// be free: Listen removes nothing and connects to nothing. A socket there
// is ErrSocketInUse (never steal a socket), a symbolic link an
// *UnsafeError (bind never follows it), anything else is reported.
func Listen(path string) (*Listener, error) {
	if err := CheckOwnedDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, &UnsafeError{path, "is a symbolic link", "remove the link (rm " + path + ")"}
		case fi.Mode()&fs.ModeSocket == 0:
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
	}
	// The umask makes bind create the socket 0600, with no window of wider
	// permissions (bind creates the file; it never follows a link there).
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o777 != 0o600 {
		ln.Close()
		return nil, fmt.Errorf("devdir: socket %s not as bound (mode %o): %v", path, st.Mode, err)
	}
	id := FileID{Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim.Nano()}
	return &Listener{Listener: ln, path: path, id: id}, nil
}
