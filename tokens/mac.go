package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/emmansun/gmsm/sm3"
)

// KeySize is the length of the auth-token key in bytes (Trusty
// AUTH_TOKEN_KEY_LEN = 32; the ISharedSecret HMAC key H is 32 bytes).
const KeySize = 32

// MACAlgorithm selects the MAC over the 37 MACed bytes.
type MACAlgorithm uint8

const (
	// HMACSHA256 is AOSP's algorithm and the default: HMAC-SHA256(key,
	// bytes[0..37)) (hw_auth_token.h; AIDL HardwareAuthToken.mac; Trusty
	// ValidateTokenSignature; KMR verify_device_hmac).
	HMACSHA256 MACAlgorithm = iota
	// HMACSM3 is HMAC (RFC 2104) over SM3 (GM/T 0004-2012), an explicit,
	// non-AOSP option for deployments that must use GM/T algorithms. The
	// output is 32 bytes, so the token layout is unchanged.
	HMACSM3
)

// String returns "hmac-sha256" or "hmac-sm3" (the CLI's --mac spelling).
func (a MACAlgorithm) String() string {
	switch a {
	case HMACSHA256:
		return "hmac-sha256"
	case HMACSM3:
		return "hmac-sm3"
	}
	return fmt.Sprintf("MACAlgorithm(%d)", uint8(a))
}

// ParseMACAlgorithm parses "hmac-sha256" or "hmac-sm3" (case-insensitive).
// Anything else is an error matching ErrKey.
func ParseMACAlgorithm(s string) (MACAlgorithm, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "hmac-sha256":
		return HMACSHA256, nil
	case "hmac-sm3":
		return HMACSM3, nil
	}
	return 0, fmt.Errorf("%w: unknown MAC algorithm %q (want hmac-sha256 or hmac-sm3)", ErrKey, s)
}

func (a MACAlgorithm) newHash() (func() hash.Hash, bool) {
	switch a {
	case HMACSHA256:
		return sha256.New, true
	case HMACSM3:
		return sm3.New, true
	}
	return nil, false
}

// MAC computes and checks the hmac field of tokens under one auth-token key.
// A *MAC is safe for concurrent use. Its key is never printed: all fmt verbs
// show only the algorithm.
//
// Each call uses an HMAC whose inner and outer pad states were absorbed once
// per key (crypto/hmac restores them from their marshaled form on Reset), so
// a MAC costs two compression-function calls and no allocation.
type MAC struct {
	alg  MACAlgorithm
	pool sync.Pool // of *macState
}

// macState is one HMAC instance plus scratch buffers that live on the heap
// with it, so passing them through the hash.Hash interface does not allocate.
type macState struct {
	h   hash.Hash
	in  [MACedSize]byte
	sum [64]byte
}

// NewMAC returns a MAC for alg keyed with key, which must be KeySize (32)
// bytes (KeySizeError otherwise). key is copied.
func NewMAC(alg MACAlgorithm, key []byte) (*MAC, error) {
	newHash, ok := alg.newHash()
	if !ok {
		return nil, fmt.Errorf("%w: unknown MAC algorithm %d", ErrKey, uint8(alg))
	}
	if len(key) != KeySize {
		return nil, KeySizeError(len(key))
	}
	k := make([]byte, KeySize)
	copy(k, key)
	m := &MAC{alg: alg}
	m.pool.New = func() any {
		s := &macState{h: hmac.New(newHash, k)}
		s.h.Reset() // first Reset marshals the pad states; later ones restore them
		return s
	}
	return m, nil
}

// Algorithm returns the MAC algorithm.
func (m *MAC) Algorithm() MACAlgorithm { return m.alg }

// String describes m without its key.
func (m *MAC) String() string { return "tokens.MAC(" + m.alg.String() + ")" }

// GoString describes m without its key.
func (m *MAC) GoString() string { return m.String() }

// Format prints m.String() for every verb, so the key cannot leak via fmt.
func (m *MAC) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// Sum returns the MAC of t's first MACedSize bytes (t.MAC is ignored).
func (m *MAC) Sum(t *Token) [MACSize]byte {
	s := m.pool.Get().(*macState)
	t.putWithoutMAC(&s.in)
	var out [MACSize]byte
	m.sumInto(s, &out)
	m.pool.Put(s)
	return out
}

func (m *MAC) sumInto(s *macState, out *[MACSize]byte) {
	s.h.Reset()
	s.h.Write(s.in[:])
	copy(out[:], s.h.Sum(s.sum[:0]))
}

// Sign sets t.MAC to the MAC of t's other fields (GateKeeper::MintAuthToken,
// Trusty keymaster_sign_auth_token).
// checkRaw is Check over the raw token bytes b (len(b) == Size, already
// parsed): it MACs the caller's first MACedSize bytes in place — the
// canonical bytes MarshalWithoutMAC would produce, since Parse accepts
// every byte pattern — instead of re-serialising the parsed token.
func (m *MAC) checkRaw(b []byte) error {
	s := m.pool.Get().(*macState)
	s.h.Reset()
	s.h.Write(b[:MACedSize])
	sum := s.h.Sum(s.sum[:0])
	ok := hmac.Equal(sum, b[MACedSize:Size])
	m.pool.Put(s)
	if !ok {
		return ErrBadMAC
	}
	return nil
}

func (m *MAC) Sign(t *Token) {
	t.MAC = m.Sum(t)
}

// Check returns nil if t.MAC authenticates t, ErrBadMAC otherwise. The
// comparison is constant-time (hmac.Equal), as Trusty ValidateTokenSignature
// (memcmp_s) and KMR verify_device_hmac require.
func (m *MAC) Check(t *Token) error {
	s := m.pool.Get().(*macState)
	t.putWithoutMAC(&s.in)
	var want [MACSize]byte
	m.sumInto(s, &want)
	m.pool.Put(s)
	if !hmac.Equal(want[:], t.MAC[:]) {
		return ErrBadMAC
	}
	return nil
}
