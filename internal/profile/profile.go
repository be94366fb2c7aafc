// Package profile makes a device process — a TA or the HAL — write a Go
// CPU profile of its whole life when it stops: how a vendor, a researcher
// or a benchmark sees where a running device spends its time, process by
// process (docs/benchmarks.md, "Profiling the device's processes").
//
// A process started with a profile directory (`fpemu ta|hal --profile-dir
// DIR`, or the environment variable DirEnv, which the launcher sets for
// every child when sim/device Config.ProfileDir is set) writes
// DIR/NAME.cpu.pprof when it returns from its run, i.e. on SIGTERM or
// SIGINT (graceful stop); a process killed with SIGKILL writes nothing.
// The file is the standard gzip-compressed pprof protobuf that `go tool
// pprof` reads. A profile holds stack samples only: no argument values,
// no memory, hence no secret.
//
// Standard library only.
package profile

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// DirEnv is the environment variable that names the profile directory of
// a device process. It is not a secret; the launcher sets it for its
// children (sim/device Config.ProfileDir). A vendor binary may honour it
// or ignore it: it is optional in the launch contract (docs/protocol.md
// §7.8).
const DirEnv = "FPEMU_PROFILE_DIR"

// CPUSuffix ends the name of a CPU profile file: DIR/NAME + CPUSuffix.
const CPUSuffix = ".cpu.pprof"

// ErrBadName: the process name would leave the profile directory.
var ErrBadName = errors.New("profile: name must be a plain file name")

// CPUPath is the file a process called name writes in dir.
func CPUPath(dir, name string) string { return filepath.Join(dir, name+CPUSuffix) }

// Start starts a CPU profile of this process for DIR/name.cpu.pprof
// (dir is created 0700 if missing; the file is created 0600, replacing
// an older one of the same name, e.g. a restarted TA's) and returns the
// function that stops it and closes the file. dir "" profiles nothing:
// stop is then a no-op. Only one profile can run per process
// (runtime/pprof).
func Start(dir, name string) (stop func() error, err error) {
	nop := func() error { return nil }
	if dir == "" {
		return nop, nil
	}
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nop, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nop, fmt.Errorf("profile: %w", err)
	}
	f, err := os.OpenFile(CPUPath(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nop, fmt.Errorf("profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nop, fmt.Errorf("profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		return nil
	}, nil
}

// Run runs fn with a CPU profile of the process written to
// DIR/name.cpu.pprof once fn returns (dir "" runs fn alone). fn's error
// comes first; a profile that could not be started or written is
// reported after it.
func Run(dir, name string, fn func() error) error {
	stop, err := Start(dir, name)
	if err != nil {
		return err
	}
	return errors.Join(fn(), stop())
}

// Dir is flag if set, else the environment's DirEnv.
func Dir(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(DirEnv)
}

// ErrNotProfile: a file is not a gzip-compressed pprof profile.
var ErrNotProfile = errors.New("profile: not a pprof profile")

// maxCheck bounds how much of a decompressed profile Check reads.
const maxCheck = 256 << 20

// Check reports whether path holds a CPU profile as `go tool pprof` reads
// it: a gzip stream whose payload is a perftools.profiles.Profile
// protobuf (github.com/google/pprof, proto/profile.proto) — top-level
// fields 1–14 only, each a varint or length-delimited, with a sample_type
// (field 1). It does not decode samples; it is the header check the
// launcher's tests use without depending on the pprof module.
func Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotProfile, path, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxCheck))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotProfile, path, err)
	}
	fields, err := topLevelFields(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotProfile, path, err)
	}
	if !fields[1] {
		return fmt.Errorf("%w: %s: no sample_type", ErrNotProfile, path)
	}
	return nil
}

// topLevelFields walks the top level of a protobuf message and returns the
// field numbers it holds; anything but a Profile's fields is an error.
func topLevelFields(b []byte) (map[int]bool, error) {
	varint := func() (uint64, error) {
		var v uint64
		for s := 0; s < 64; s += 7 {
			if len(b) == 0 {
				return 0, errors.New("truncated varint")
			}
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << s
			if c < 0x80 {
				return v, nil
			}
		}
		return 0, errors.New("varint too long")
	}
	out := map[int]bool{}
	for len(b) > 0 {
		tag, err := varint()
		if err != nil {
			return nil, err
		}
		num, wt := tag>>3, tag&7
		if num < 1 || num > 14 {
			return nil, fmt.Errorf("field %d is not a Profile field", num)
		}
		switch wt {
		case 0:
			_, err = varint()
		case 2:
			var n uint64
			if n, err = varint(); err == nil && n > uint64(len(b)) {
				err = fmt.Errorf("field %d overruns", num)
			}
			if err == nil {
				b = b[n:]
			}
		default:
			err = fmt.Errorf("field %d: wire type %d", num, wt)
		}
		if err != nil {
			return nil, err
		}
		out[int(num)] = true
	}
	return out, nil
}
