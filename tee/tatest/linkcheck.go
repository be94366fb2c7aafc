package tatest

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
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

// ProtocolPackage is the import-boundary test of a protocol package, run
// from its own tests: the REE imports it, so it links nothing of
// SecureWorld.
func ProtocolPackage(t *testing.T) {
	t.Helper()
	testkit.LinksNone(t, ".", "github.com/fpemu/fpemu/tee", SecureWorld)
}
