// Package seam holds the one test-only seam of the payment server: the
// stateless checks a canary server skips. Only payserver/canary sets it,
// and only inside a test binary; payserver.New reads it once. In a server
// started by `fpemu server` it is always zero.
package seam

import "sync/atomic"

// Check is a set of the server's stateless checks.
type Check uint32

// The checks a canary can skip, each one verify rule (docs/protocol.md
// §14.3, §14.4).
const (
	// Binding: the statement's payload hash is SM3 of the order binding
	// (verify.ErrPayload).
	Binding Check = 1 << iota
	// Signature: the scene key's SM2 signature over the statement
	// (verify.ErrSignature).
	Signature
	// Identity: the chain and the statement name the channel peer
	// (verify.ErrIdentity); skipped, the server takes the device they
	// name.
	Identity
	// Roots: the chain's device key is a device root
	// (verify.ErrNotAttested); skipped, any self-signed device key is one.
	Roots
)

var skipped atomic.Uint32

// Set makes c the checks servers created from now on skip.
func Set(c Check) { skipped.Store(uint32(c)) }

// Skipped is the set Set last stored.
func Skipped() Check { return Check(skipped.Load()) }
