package device

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestREEToolsLinkNoTA is the import-boundary test of the REE tools: the
// launcher and what it drives (demo, conform, attack, drive) and the
// synthetic fingers link only protocol packages — no TA implementation,
// matcher, virtual sensor, TA core or secure storage. The launcher plays
// secure boot (docs/architecture.md rule 2), so tee/boot and the TA
// process's readiness contract in tee/taproc are its own; what a TA
// process runs lives in sim/tas, which only `fpemu ta` links.
func TestREEToolsLinkNoTA(t *testing.T) {
	forbidden := []string{
		"github.com/fpemu/fpemu/ta/fingerprint",
		"github.com/fpemu/fpemu/ta/fingerprint/matcher",
		"github.com/fpemu/fpemu/ta/fingerprint/sensor",
		"github.com/fpemu/fpemu/ta/gatekeeper",
		"github.com/fpemu/fpemu/keymaster",
		"github.com/fpemu/fpemu/bio/payment",
		"github.com/fpemu/fpemu/sim/tas",
		"github.com/fpemu/fpemu/tee/tacore",
		"github.com/fpemu/fpemu/tee/store",
		"github.com/fpemu/fpemu/tee/marks",
		// Not go-sqlite3: the attack tool edits a TA's database file with
		// SQLite, as any REE process can; it never opens a sealed store.
	}
	for _, pkg := range []string{".", "../conform", "../demo", "../attack", "../drive", "../finger"} {
		t.Run(pkg, func(t *testing.T) {
			testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/tee", forbidden)
		})
	}
}
