package device

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestREEToolsLinkNoTA is the import-boundary test of the REE tools: the
// launcher and what it drives (demo, conform, attack, drive) and the
// synthetic fingers link only protocol packages — no TA implementation,
// matcher, virtual sensor, TA core or secure storage. The launcher plays
// secure boot (docs/architecture.md rule 2), so tee/boot and the TA
// process's readiness contract in tee/taproc are its own; what a TA
// process runs lives in sim/tas, which only `fpemu ta` links.
func TestREEToolsLinkNoTA(t *testing.T) {
	// Of the secure world, the launcher links tee/boot and tee/taproc
	// (above), and the attack tool go-sqlite3: it edits a TA's database
	// file with SQLite, as any REE process can, and never opens a sealed
	// store.
	var forbidden []string
	for _, p := range tatest.SecureWorld {
		switch p {
		case "github.com/fpemu/fpemu/tee/boot", "github.com/fpemu/fpemu/tee/taproc", "github.com/mattn/go-sqlite3":
		default:
			forbidden = append(forbidden, p)
		}
	}
	for _, pkg := range []string{".", "../conform", "../demo", "../attack", "../drive", "../finger"} {
		t.Run(pkg, func(t *testing.T) {
			testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/tee", forbidden)
		})
	}
}
