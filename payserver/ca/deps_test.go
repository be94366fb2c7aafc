package ca_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestCALinksNoTEE: the CA is server-side code (docs/architecture.md): it
// links no TA, no TA core, no sealed store and no secure-boot package —
// only tee/devdir for its owner-only directory checks.
func TestCALinksNoTEE(t *testing.T) {
	testkit.LinksNone(t, ".", "github.com/fpemu/fpemu/tee/devdir", []string{
		"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore", "github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
		"github.com/fpemu/fpemu/channel",
	})
}
