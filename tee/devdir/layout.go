package devdir

import (
	"path/filepath"

	"github.com/fpemu/fpemu/tee"
)

// Device directory layout shared by the launcher and the TA processes.
// The whole directory is private to the device user (0700).
//
//	DIR/fused.key              the device root secret (tee/boot; launcher only)
//	DIR/sock/<role>.sock       the role's CA→TA Unix socket (0600)
//	DIR/data/<role>/           the role's REE-writable data (sealed SQLite store)
//	DIR/rpmb/<role>/           the role's rollback counters (RPMB stand-in),
//	                           outside its data directory
const (
	SockDirName = "sock"
	DataDirName = "data"
	RPMBDirName = "rpmb"
)

// SocketPath is the Unix socket a role listens on in device directory dir.
func SocketPath(dir string, role tee.Role) string {
	return filepath.Join(dir, SockDirName, string(role)+".sock")
}

// DataDir is the role's data directory in device directory dir.
func DataDir(dir string, role tee.Role) string {
	return filepath.Join(dir, DataDirName, string(role))
}

// RPMBDir is the role's rollback-counter directory in device directory
// dir. It lives apart from DataDir, the way RPMB is apart from /data, so
// restoring an old copy of the data directory does not restore the
// counters.
func RPMBDir(dir string, role tee.Role) string {
	return filepath.Join(dir, RPMBDirName, string(role))
}
