package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/tee/devdir"
)

// Client sockets and the client group (docs/protocol.md §7.7).
//
// By default a device is its launcher user's alone: every directory 0700,
// every socket 0600. On a phone, apps run as their own uids and reach the
// TEE driver through a device node the system grants them; fpemu's stand-in
// is Config.ClientGroup: the device directory and sock/ become 0710 with
// that group, and each CA→TA socket and the HAL's socket 0660 with that
// group, so processes with the group among their groups (an app's uid)
// can connect, and the TA host tells them apart by SO_PEERCRED. The
// sensor-control socket, data/ and rpmb/ stay the launcher user's alone:
// a client may call TAs, never place fingers or touch storage.

// ErrClientGroup means the device could not be shared with the client group.
var ErrClientGroup = errors.New("sim: client group")

// shareDir gives the directory at path (checked by the caller to be the
// launcher's own, never a link) to group gid, mode 0710, through a
// descriptor opened without following links.
func shareDir(path string, gid int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrClientGroup, path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, -1, gid); err != nil {
		return fmt.Errorf("%w: chgrp %d %s: %v", ErrClientGroup, gid, path, err)
	}
	if err := unix.Fchmod(fd, 0o710); err != nil {
		return fmt.Errorf("%w: chmod 710 %s: %v", ErrClientGroup, path, err)
	}
	return nil
}

// unshareDir makes the directory at path the launcher user's alone again
// (mode 0700), as a device booted without a client group must be.
func unshareDir(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sim: %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, 0o700); err != nil {
		return fmt.Errorf("sim: chmod 700 %s: %w", path, err)
	}
	return nil
}

// shareSocket gives the socket at path, which must still be the file id
// the launcher verified as its child's, to group gid with mode 0660, and
// returns its new id (chown and chmod move the change time).
func shareSocket(path string, id devdir.FileID, gid int) (devdir.FileID, error) {
	if !devdir.SameFile(path, id) {
		return id, fmt.Errorf("%w: %s is no longer the socket verified", ErrClientGroup, path)
	}
	if err := unix.Fchownat(unix.AT_FDCWD, path, -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return id, fmt.Errorf("%w: chgrp %d %s: %v", ErrClientGroup, gid, path, err)
	}
	// chmod(2) follows links: the path was the verified socket a moment ago
	// and sock/ is the launcher user's alone, so only that user could swap
	// it; the check after catches a swap all the same.
	if err := os.Chmod(path, 0o660); err != nil {
		return id, fmt.Errorf("%w: chmod 660 %s: %v", ErrClientGroup, path, err)
	}
	now, err := devdir.Identify(path)
	if err != nil || now.Dev != id.Dev || now.Ino != id.Ino {
		return id, fmt.Errorf("%w: %s changed while it was shared", ErrClientGroup, path)
	}
	return now, nil
}

// isClientSocket reports whether the socket file name in sock/ is one the
// client group may reach: every CA→TA socket and the HAL's, never the
// sensor-control socket.
func isClientSocket(name string) bool {
	return name != filepath.Base(SensorSocketPath(""))
}
