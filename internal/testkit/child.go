package testkit

import (
	"context"
	"os"
	"os/exec"
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
