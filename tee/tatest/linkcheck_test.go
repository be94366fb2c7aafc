package tatest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDeps: the list sees what a package links — the TA core links the
// sealed store — and a protocol package's harness links no secure world.
func TestDeps(t *testing.T) {
	assert.Contains(t, Deps(t, "../tacore"), "github.com/fpemu/fpemu/tee/store")
	LinksNone(t, ".", SecureWorld)
}
