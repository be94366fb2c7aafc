package testkit

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"testing"
)

// SharedBinPrefix starts the name of every Shared build directory
// (os.MkdirTemp adds a random suffix), so that a leftover one is easy to
// find.
const SharedBinPrefix = "fpemu-bin"

// Shared is one build of a main package shared by every test of a test
// binary: the first Path builds it (Build) into a fresh temporary
// directory, later calls return the same binary, and the package's
// TestMain calls Remove after m.Run, which deletes the directory. The
// zero value with Pkg set is ready to use; it is safe for concurrent use.
type Shared struct {
	Pkg   string   // import path of the main package, e.g. FpemuPackage
	Flags []string // go build flags (Build), e.g. -ldflags

	mu  sync.Mutex
	dir string
	exe string
}

// Path returns the built binary, building it on the first call. A failed
// build fails tb (and is tried again by the next test, which fails the
// same way); no go tool on PATH makes tb Unavailable.
func (s *Shared) Path(tb testing.TB) string {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exe != "" {
		return s.exe
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", SharedBinPrefix)
		if err != nil {
			tb.Fatalf("testkit: build directory: %v", err)
			return ""
		}
		s.dir = d
	}
	s.exe = Build(tb, s.dir, s.Pkg, s.Flags...)
	return s.exe
}

// Dir is the build directory, empty until Path first ran.
func (s *Shared) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

// Remove deletes the build directory and checks it is gone; a later Path
// builds again. Call it from TestMain after m.Run: a test binary that
// leaves it behind should fail.
func (s *Shared) Remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	if _, err := os.Lstat(s.dir); !errors.Is(err, fs.ErrNotExist) {
		return errors.New("testkit: build directory " + s.dir + " still there")
	}
	s.dir, s.exe = "", ""
	return nil
}
