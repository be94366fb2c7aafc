package tatest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecureWorldNamesRealPackages: every entry of SecureWorld is a
// package the TA processes' factory (sim/tas) links, so a misspelt entry
// cannot make the boundary tests pass vacuously.
func TestSecureWorldNamesRealPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "../../sim/tas").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	for _, p := range SecureWorld {
		assert.Contains(t, deps, p)
	}
}
