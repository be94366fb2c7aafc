package boot

import (
	"encoding/hex"
	"fmt"
)

const redacted = "[redacted]"

// FusedKeySize is the length of the device root secret.
const FusedKeySize = 32

// FusedKey is the device root secret. Only the launcher holds it; TAs get
// keys derived from it. It prints "[redacted]".
type FusedKey [FusedKeySize]byte

// String returns "[redacted]".
func (FusedKey) String() string { return redacted }

// GoString returns "[redacted]".
func (FusedKey) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (FusedKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalText returns "[redacted]" (encoding/json, zap).
func (FusedKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// StorageKeySize is the length of a TA storage key.
const StorageKeySize = 32

// StorageKey is a TA's storage key: the root of the keys its sealed store
// derives (tee/store takes it as a byte slice of at least 16 bytes). It
// depends only on the fused key and the TA UUID, so it is the same in every
// boot of a device and differs between devices and TAs. It prints
// "[redacted]".
type StorageKey [StorageKeySize]byte

// String returns "[redacted]".
func (StorageKey) String() string { return redacted }

// GoString returns "[redacted]".
func (StorageKey) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (StorageKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalText returns "[redacted]" (encoding/json, zap).
func (StorageKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Bytes returns a copy of the key as a slice, the form tee/store takes.
func (k StorageKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// BootIDSize is the length of a boot ID.
const BootIDSize = 16

// BootID identifies one boot of a device: 16 random bytes drawn by the
// launcher at boot. It is not secret (it salts the envelope key derivation
// and scopes per-boot state such as replay marks) and prints as hex.
type BootID [BootIDSize]byte

// String returns the boot ID in hex.
func (id BootID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is unset.
func (id BootID) IsZero() bool { return id == BootID{} }
