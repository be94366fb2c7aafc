package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/sim/device"
)

// `fpemu device up --exec ROLE=PATH`: the vendor's own binary for one role
// of the device, started by the launcher with exactly the contract fpemu's
// own process for that role gets (docs/protocol.md §7.8).

// execRoles are the roles --exec accepts, in the order usage lists them:
// the HAL and every TA `device up` boots.
func execRoles() []string {
	out := []string{device.HALName}
	for _, r := range deviceRoles() {
		out = append(out, string(r))
	}
	return out
}

// vendorExecs maps a role ("hal", "keymaster", …) to the absolute path of
// the binary the launcher runs for it instead of fpemu.
type vendorExecs map[string]string

// parseExecs checks the --exec values: each ROLE=PATH with ROLE one of
// execRoles, at most once; PATH absolute (the launcher never searches
// $PATH or resolves against its working directory), a regular file (after
// symbolic links) the launcher's user may execute. noHAL forbids
// hal=PATH. Every problem is a usage error naming the value.
func parseExecs(specs []string, noHAL bool) (vendorExecs, error) {
	out := vendorExecs{}
	roles := execRoles()
	for _, spec := range specs {
		role, path, ok := strings.Cut(spec, "=")
		if !ok || role == "" || path == "" {
			return nil, usageErrorf("--exec %q: want ROLE=PATH, ROLE one of %s", spec, strings.Join(roles, ", "))
		}
		if !slices.Contains(roles, role) {
			return nil, usageErrorf("--exec %q: unknown role %q; ROLE is one of %s", spec, role, strings.Join(roles, ", "))
		}
		if role == device.HALName && noHAL {
			return nil, usageErrorf("--exec %q: --no-hal starts no HAL; drop one of them", spec)
		}
		if prev, dup := out[role]; dup {
			return nil, usageErrorf("--exec %q: role %s already runs %s; give each role once", spec, role, prev)
		}
		if err := checkExecutable(path); err != nil {
			return nil, usageErrorf("--exec %q: %v", spec, err)
		}
		out[role] = filepath.Clean(path)
	}
	return out, nil
}

// errNotExecutable is why checkExecutable refuses a path.
var errNotExecutable = errors.New("not an executable file")

// checkExecutable reports why path cannot be the program of a role, or
// nil.
func checkExecutable(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("PATH %q is relative; give an absolute path (e.g. \"$PWD/%s\")", path, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("PATH: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("PATH %s: %w (it is a %s)", path, errNotExecutable, kindOf(fi.Mode()))
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("PATH %s: %w (mode %v: %v; chmod +x it)", path, errNotExecutable, fi.Mode().Perm(), err)
	}
	return nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// exe is the binary that runs role: the vendor's, or fallback (fpemu).
func (v vendorExecs) exe(role, fallback string) string {
	if p, ok := v[role]; ok {
		return p
	}
	return fallback
}

// vendorStartError says which vendor binary failed to come up, if err is
// the start failure of a role run by one; otherwise it returns err.
func (v vendorExecs) vendorStartError(err error) error {
	var se *device.StartError
	if !errors.As(err, &se) {
		return err
	}
	role := string(se.Role)
	if p, ok := v[role]; ok {
		return fmt.Errorf("--exec %s=%s: the vendor binary for %s failed to start: %w", role, p, role, err)
	}
	return err
}
