package store_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestStoreLinksNoTEE: the payment server's storage sits on the server
// side of the trust boundary (docs/architecture.md, dependency
// direction): it and its backends link the pure proof codecs, never a TA
// implementation, the TA core, a sealed TA store or the simulator.
func TestStoreLinksNoTEE(t *testing.T) {
	forbidden := []string{
		"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore", "github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
		"github.com/fpemu/fpemu/internal/testkit",
	}
	for _, pkg := range []string{".", "./sqlite", "./postgres"} {
		testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/bio/payment/proof", forbidden)
	}
}
