package tatest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// SecureWorld lists what only a TA process may link: the TA
// implementations, the matcher and the virtual sensor, the TA core and
// the secure world's storage, boot and process packages, and SQLite. A
// protocol package — what the REE imports — links none of them
// (docs/architecture.md, "Protocol packages").
var SecureWorld = []string{
	"github.com/fpemu/fpemu/keymaster",
	"github.com/fpemu/fpemu/ta/gatekeeper",
	"github.com/fpemu/fpemu/ta/fingerprint",
	"github.com/fpemu/fpemu/ta/fingerprint/matcher",
	"github.com/fpemu/fpemu/ta/fingerprint/sensor",
	"github.com/fpemu/fpemu/bio/payment",
	"github.com/fpemu/fpemu/sim/tas",
	"github.com/fpemu/fpemu/tee/store",
	"github.com/fpemu/fpemu/tee/boot",
	"github.com/fpemu/fpemu/tee/taproc",
	"github.com/fpemu/fpemu/tee/tacore",
	"github.com/fpemu/fpemu/tee/marks",
	"github.com/mattn/go-sqlite3",
}

// Deps returns `go list -deps pkg` (pkg relative to the test's package,
// "." for itself). It skips the test under -short, or when there is no go
// tool on PATH.
func Deps(t *testing.T, pkg string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/fpemu/fpemu/tee", "sanity: the list holds fpemu packages")
	return deps
}

// LinksNone fails the test for each of forbidden that pkg links.
func LinksNone(t *testing.T, pkg string, forbidden []string) {
	t.Helper()
	deps := Deps(t, pkg)
	for _, f := range forbidden {
		if slices.Contains(deps, f) {
			t.Errorf("%s links %s", pkg, f)
		}
	}
}

// ProtocolPackage is the import-boundary test of a protocol package, run
// from its own tests: the REE imports it, so it links nothing of
// SecureWorld.
func ProtocolPackage(t *testing.T) {
	t.Helper()
	LinksNone(t, ".", SecureWorld)
}
