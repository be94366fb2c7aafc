package policy_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestPolicyIsPure: the policy is pure (docs/architecture.md): it links
// no other fpemu package.
func TestPolicyIsPure(t *testing.T) {
	testkit.LinksNone(t, ".", "strconv", []string{
		"github.com/fpemu/fpemu/payserver/store", "github.com/fpemu/fpemu/payserver", "github.com/fpemu/fpemu/tee/store",
		"github.com/fpemu/fpemu/bio/payment/proof", "github.com/fpemu/fpemu/internal/testkit",
	})
}
