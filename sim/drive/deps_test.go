package drive_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDriveLinksNoSecureWorld: the REE flows import protocol packages
// only, never a TA implementation or the secure world's packages
// (docs/architecture.md, "Protocol packages").
func TestDriveLinksNoSecureWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/fpemu/fpemu/tee/rpc", "sanity: the list holds fpemu packages")
	for _, f := range []string{
		"github.com/fpemu/fpemu/sim/device",
		"github.com/fpemu/fpemu/ta/gatekeeper",
		"github.com/fpemu/fpemu/ta/fingerprint",
		"github.com/fpemu/fpemu/keymaster",
		"github.com/fpemu/fpemu/bio/payment",
		"github.com/fpemu/fpemu/tee/store",
		"github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/tee/taproc",
		"github.com/fpemu/fpemu/tee/tacore",
		"github.com/fpemu/fpemu/tee/marks",
		"github.com/mattn/go-sqlite3",
	} {
		assert.NotContains(t, deps, f)
	}
}
