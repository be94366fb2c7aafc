// Package canary weakens the payment server for canary tests: a server
// built after Weaken skips the named stateless checks, so that a test can
// show an attack row reports an attack that got through when the defence
// is gone (sim/attack's server canaries). Weaken refuses outside a test
// binary (testing.Testing), so no command can reach it; no production
// package links this one (payserver's TestServerSideLinksNoTEE).
package canary

import (
	"errors"
	"testing"

	"github.com/fpemu/fpemu/payserver/internal/seam"
)

// Check is a set of checks a canary server skips.
type Check = seam.Check

// The checks Weaken can remove.
const (
	// SkipBinding: no payload hash against the order binding (§14.4).
	SkipBinding = seam.Binding
	// SkipSignature: no SM2 signature check of the statement (§14.4).
	SkipSignature = seam.Signature
	// SkipIdentity: the device the chain or statement names is taken as
	// the payer, not the channel peer (§14.3, §14.4).
	SkipIdentity = seam.Identity
	// SkipRoots: any self-signed device key is a device root (§14.3).
	SkipRoots = seam.Roots
)

// ErrNotTest is Weaken outside a test binary.
var ErrNotTest = errors.New("canary: the payment server is weakened only in a test binary")

// Weaken makes every payserver.Server created from now on in this
// process skip checks (0 restores them all).
func Weaken(checks Check) error {
	if !testing.Testing() {
		return ErrNotTest
	}
	seam.Set(checks)
	return nil
}
