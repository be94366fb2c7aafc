package envelope

import (
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// KeySize is the length of a pairwise envelope key (an SM4 key,
// GB/T 32907-2016).
const KeySize = 16

// Key is a pairwise SM4 key of one route. Its String, GoString, Format and
// MarshalText print "[redacted]", so a key that reaches a log line, an
// error or a %v by mistake shows nothing.
type Key [KeySize]byte

const redacted = "[redacted]"

// String returns "[redacted]".
func (Key) String() string { return redacted }

// GoString returns "[redacted]".
func (Key) GoString() string { return redacted }

// Format prints "[redacted]" for every verb (%x and %v included).
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalText returns "[redacted]", so JSON and zap reflection encoders
// never see the bytes.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// IsZero reports whether k is all zeros (an unset key).
func (k Key) IsZero() bool { return k == Key{} }

// Keyring maps manifest routes to their pairwise keys. A TA's keyring holds
// only the routes it is an endpoint of (boot provisioning guarantees it).
type Keyring map[tee.Route]Key

// For returns the subset of k whose routes have self as an endpoint and are
// listed in the manifest.
func (k Keyring) For(self tee.UUID) Keyring {
	out := make(Keyring)
	for r, key := range k {
		if (r.From == self || r.To == self) && tee.RouteAllowed(r.From, r.To) {
			out[r] = key
		}
	}
	return out
}
