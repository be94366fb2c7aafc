package hal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// secureWorld are the packages only a TA process may link
// (docs/architecture.md, "What the REE may import"): the TA
// implementations, the fingerprint matcher and virtual sensor, the TA core
// and the secure world's storage, boot and process packages.
var secureWorld = []string{
	"github.com/fpemu/fpemu/ta/fingerprint",
	"github.com/fpemu/fpemu/ta/fingerprint/matcher",
	"github.com/fpemu/fpemu/ta/fingerprint/sensor",
	"github.com/fpemu/fpemu/ta/gatekeeper",
	"github.com/fpemu/fpemu/keymaster",
	"github.com/fpemu/fpemu/bio/payment",
	"github.com/fpemu/fpemu/tee/tacore",
	"github.com/fpemu/fpemu/tee/store",
	"github.com/fpemu/fpemu/tee/marks",
	"github.com/fpemu/fpemu/tee/boot",
	"github.com/fpemu/fpemu/tee/taproc",
	"github.com/mattn/go-sqlite3",
}

// TestREELinksNoSecureWorld is the import-boundary test of the trust
// boundary: `go list -deps` of the REE HAL and of the REE tools built on
// its client holds no secure-world package: the HAL imports only protocol
// packages (kmproto, fpproto, payproto) and tee/devdir.
func TestREELinksNoSecureWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	for _, pkg := range []string{".", "./halclient", "./vts", "./hidl", "./halpb"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
			require.NoError(t, err)
			deps := strings.Fields(string(out))
			require.Contains(t, deps, "github.com/fpemu/fpemu/hal/hidl", "sanity: the list holds fpemu packages")
			for _, f := range secureWorld {
				if slices.Contains(deps, f) {
					t.Errorf("%s links the secure world: %s", pkg, f)
				}
			}
		})
	}
}
