package payserver_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// serverSideNever is what no package of the payment server links: it is
// on the server side of the trust boundary (docs/architecture.md,
// dependency direction), so never a TA implementation, the TA core, a
// sealed TA store, secure boot, the HAL or the simulator's launcher — nor
// the test kit, which is for tests.
var serverSideNever = []string{
	"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore", "github.com/fpemu/fpemu/tee/boot",
	"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
	"github.com/fpemu/fpemu/internal/testkit",
}

// TestServerSideLinksNoTEE holds every server-side package to
// serverSideNever and to what its own row adds; sanity is a package each
// must link, so that an empty or foreign list cannot pass. The server,
// its wire codecs and verifier, the storage and its backends link the
// pure proof codecs (and the server the channel library) but not the
// REE's flows; the CA links tee/devdir for its owner-only directory
// checks and not the channel; one-time codes link the HOTP library.
// (policy has its own, stricter test: it links no fpemu package.)
func TestServerSideLinksNoTEE(t *testing.T) {
	for _, tc := range []struct {
		pkgs      []string
		sanity    string
		alsoNever []string
	}{
		{[]string{".", "./wire", "./verify"}, "github.com/fpemu/fpemu/bio/payment/proof", []string{"github.com/fpemu/fpemu/sim/drive"}},
		{[]string{"./store", "./store/sqlite", "./store/postgres"}, "github.com/fpemu/fpemu/bio/payment/proof", nil},
		{[]string{"./ca"}, "github.com/fpemu/fpemu/tee/devdir", []string{"github.com/fpemu/fpemu/channel"}},
		{[]string{"./otp"}, "github.com/pquerna/otp/hotp", nil},
	} {
		for _, pkg := range tc.pkgs {
			testkit.LinksNone(t, pkg, tc.sanity, append(tc.alsoNever, serverSideNever...))
		}
	}
}

// TestCanaryOnlyInTests: the canary seam's setter (payserver/canary,
// which refuses outside a test binary anyway) is linked by no command and
// by no server package: a weakened server exists only in a test binary.
func TestCanaryOnlyInTests(t *testing.T) {
	never := []string{"github.com/fpemu/fpemu/payserver/canary"}
	testkit.LinksNone(t, "../cmd/fpemu", "github.com/fpemu/fpemu/payserver", never)
	for _, pkg := range []string{".", "./verify", "./store", "./store/sqlite", "./store/postgres"} {
		testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/bio/payment/proof", never)
	}
}
