package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Unavailable reports that something a test needs is missing (a program,
// a server, a privilege): the test is skipped with the reason, except
// under CI=true, where every test must run and the test fails instead.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatal(reason + " (mandatory under CI=true)")
		return
	}
	tb.Skip(reason)
}

// NeedCommand returns the path of the program name found on PATH; without
// one the test is Unavailable. what says which checks need the program.
func NeedCommand(tb testing.TB, name, what string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(tb, "%s not on PATH (%v): %s need it", name, err, what)
	}
	return p
}
