package testkit

import (
	"os"
	"testing"
)

// Nobody is the foreign uid of the cross-uid tests: the owner of files
// and processes that are not the test user's (the traditional "nobody").
const Nobody = 65534

// NeedRoot skips a test that needs root (to make another uid's files or
// run a process as another uid), except under CI=true, where such tests
// are mandatory and a missing privilege fails the test instead.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	Unavailable(tb, "cross-uid test: needs root")
}
