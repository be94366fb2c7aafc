package hal_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
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
	for _, pkg := range []string{".", "./halclient", "./vts", "./hidl", "./halpb"} {
		t.Run(pkg, func(t *testing.T) {
			testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/hal/hidl", secureWorld)
		})
	}
}
