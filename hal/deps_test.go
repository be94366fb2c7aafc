package hal_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestREELinksNoSecureWorld is the import-boundary test of the trust
// boundary: `go list -deps` of the REE HAL and of the REE tools built on
// its client holds no secure-world package: the HAL imports only protocol
// packages (kmproto, fpproto, payproto) and tee/devdir.
func TestREELinksNoSecureWorld(t *testing.T) {
	for _, pkg := range []string{".", "./halclient", "./vts", "./hidl", "./halpb"} {
		t.Run(pkg, func(t *testing.T) {
			testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/hal/hidl", tatest.SecureWorld)
		})
	}
}
