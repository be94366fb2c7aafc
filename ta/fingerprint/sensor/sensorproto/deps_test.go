package sensorproto_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProtocolPackageLinksNoSecureWorld: the REE imports sensorproto, so it
// must not pull in the TA implementation or the secure world's packages
// (docs/architecture.md, "Protocol packages").
func TestProtocolPackageLinksNoSecureWorld(t *testing.T) {
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
	forbidden := []string{
		"github.com/fpemu/fpemu/ta/fingerprint",
		"github.com/fpemu/fpemu/ta/fingerprint/matcher",
		"github.com/fpemu/fpemu/ta/fingerprint/sensor",
		"github.com/fpemu/fpemu/tee/store",
		"github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/tee/taproc",
		"github.com/fpemu/fpemu/tee/tacore",
		"github.com/fpemu/fpemu/tee/marks",
		"github.com/mattn/go-sqlite3",
	}
	for _, f := range forbidden {
		assert.NotContains(t, deps, f)
	}
}
