package otp_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestOTPLinksNoTEE: one-time codes are a server-side factor
// (docs/architecture.md): the package links the store and gmsm, never a
// TA, the TA core, a sealed TA store or the simulator.
func TestOTPLinksNoTEE(t *testing.T) {
	testkit.LinksNone(t, ".", "github.com/pquerna/otp/hotp", []string{
		"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore", "github.com/fpemu/fpemu/tee/boot",
		"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
		"github.com/fpemu/fpemu/internal/testkit",
	})
}
