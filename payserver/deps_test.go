package payserver_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestServerLinksNoTEE: the payment server is on the server side of the
// trust boundary (docs/architecture.md): it links the proof codecs and the
// channel library, never a TA implementation, the TA core, a sealed TA
// store, the HAL or the simulator.
func TestServerLinksNoTEE(t *testing.T) {
	forbidden := []string{
		"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore", "github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
		"github.com/fpemu/fpemu/sim/drive", "github.com/fpemu/fpemu/internal/testkit",
	}
	for _, pkg := range []string{".", "./wire", "./verify"} {
		testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/bio/payment/proof", forbidden)
	}
}
