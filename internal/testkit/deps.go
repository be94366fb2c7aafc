package testkit

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// LinksNone is the import-boundary check (docs/architecture.md, "What the
// REE may import"): it runs `go list -deps pkg` (pkg relative to the
// test's package directory) and reports a test error for each package of
// forbidden that pkg links. sanity is a package the list must hold, so
// that an empty or foreign list cannot pass. It skips under -short (it
// runs the go tool) and fails when no go tool is on PATH.
func LinksNone(t testing.TB, pkg, sanity string, forbidden []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, sanity) {
		t.Fatalf("sanity: go list -deps %s does not hold %s", pkg, sanity)
	}
	for _, f := range forbidden {
		if slices.Contains(deps, f) {
			t.Errorf("%s links %s", pkg, f)
		}
	}
}
