package testkit

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NoRaceExitDelay is the GORACE setting every child gets: a -race child
// otherwise sleeps 1 s in exit.
const NoRaceExitDelay = "GORACE=atexit_sleep_ms=0"

// Main is a test binary's TestMain that can also be a child process: when
// the environment variable env is set, the binary runs child with its
// value (a mode naming the behaviour, never a secret) and exits with what
// it returns; otherwise it runs the tests.
func Main(m *testing.M, env string, child func(mode string) int) {
	if mode := os.Getenv(env); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// ChildEnv is the environment of a child test binary: this process's,
// NoRaceExitDelay, then vars ("NAME=value").
func ChildEnv(vars ...string) []string {
	return append(append(os.Environ(), NoRaceExitDelay), vars...)
}

// Command runs this test binary again with args and ChildEnv(vars...):
// the child's TestMain (see Main) decides what it is.
func Command(args []string, vars ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = ChildEnv(vars...)
	return cmd
}

// ChildCommand is Command with no test selected ("-test.run=^$"), so a
// child whose mode is unset by mistake runs nothing.
func ChildCommand(vars ...string) *exec.Cmd {
	return Command([]string{"-test.run=^$"}, vars...)
}

// ShortDir is a fresh temporary directory removed when the test ends,
// with a short path: a device's sockets must fit sockaddr_un (107 bytes).
func ShortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fpt")
	if err != nil {
		t.Fatalf("testkit: temporary directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// Context is a context canceled after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ForeignExecutable copies this test binary into a fresh directory of
// mode 0755, removed when the test ends, so that a process of another
// uid can run it (os.Args[0] may sit in a directory only the test's uid
// can enter). It returns the copy's path.
func ForeignExecutable(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fpx")
	if err != nil {
		t.Fatalf("testkit: temporary directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	in, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatalf("testkit: test binary: %v", err)
	}
	defer in.Close()
	p := filepath.Join(d, filepath.Base(os.Args[0]))
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	_, err = io.Copy(out, in)
	if err = errors.Join(err, out.Close()); err != nil {
		t.Fatalf("testkit: copy of the test binary: %v", err)
	}
	return p
}
