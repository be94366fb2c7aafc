// Package keyshare keeps the shield's static secure-messaging key (se/sm)
// as a Shamir (k, n) threshold split whose shares live in different
// places (docs/protocol.md §15.5; seed 002 分散密鑰存儲). Seed 002 keeps
// the shares together in one "sandbox" file, which defeats the
// threshold; here each share is its own file, and the middleware is
// given paths in different trust domains (the app's sandbox holds one).
//
// Shamir alone has no integrity: a wrong or short set of shares
// recombines to a wrong key without notice. So the split is Feldman's
// verifiable secret sharing (github.com/cloudflare/circl/secretsharing
// over Ristretto255, RFC 9496): every share carries the commitment to
// the polynomial, each share is checked against it before use, all
// shares must carry the same commitment, card serial and (k, n), and
// the recovered secret must match the commitment's constant term.
// Combine therefore returns the key or a typed error — never a wrong
// key.
//
// Bounds: 2 ≤ k ≤ n ≤ MaxShares; a share file is at most
// MaxEncodedSize bytes.
package keyshare

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

// Sizes and bounds.
const (
	KeySize        = 16 // the secret: an SM4 key
	SerialSize     = 8  // the card serial the shares belong to
	MaxShares      = 16
	scalarSize     = 32
	elementSize    = 32
	version        = 1
	headerSize     = 4 + 1 + 3 + SerialSize // magic, version, k n id, serial
	MaxEncodedSize = headerSize + scalarSize + MaxShares*elementSize
)

var magic = []byte("FPKS")

var g = group.Ristretto255

// Errors. Every Combine failure wraps one of them.
var (
	ErrParams       = errors.New("keyshare: need 2 ≤ k ≤ n ≤ 16 and a 16-byte key")
	ErrTooFew       = errors.New("keyshare: too few valid shares")
	ErrBadShare     = errors.New("keyshare: share does not match the commitment")
	ErrInconsistent = errors.New("keyshare: shares from different splits")
	ErrWrongCard    = errors.New("keyshare: shares belong to another card")
	ErrEncoding     = errors.New("keyshare: malformed share")
)

// Share is one share: its index (1..N), the split's parameters, the card
// serial, the polynomial's value at the index and the Feldman commitment
// (K group elements: the coefficients times the generator).
type Share struct {
	K, N, ID uint8
	Serial   [SerialSize]byte
	Value    [scalarSize]byte
	Commit   [][elementSize]byte
}

// Split shares key (16 bytes) among n shares, any k of which recover it.
func Split(rnd io.Reader, key []byte, serial [SerialSize]byte, k, n int) ([]Share, error) {
	if len(key) != KeySize || k < 2 || k > n || n > MaxShares {
		return nil, ErrParams
	}
	secret, err := keyScalar(key)
	if err != nil {
		return nil, err
	}
	ss := secretsharing.New(rnd, uint(k-1), secret)
	commit := ss.CommitSecret()
	cs := make([][elementSize]byte, len(commit))
	for i, c := range commit {
		b, err := c.MarshalBinaryCompress()
		if err != nil || len(b) != elementSize {
			return nil, fmt.Errorf("keyshare: commitment: %v", err)
		}
		copy(cs[i][:], b)
	}
	out := make([]Share, 0, n)
	for _, sh := range ss.Share(uint(n)) {
		v, err := sh.Value.MarshalBinary()
		if err != nil || len(v) != scalarSize {
			return nil, fmt.Errorf("keyshare: share: %v", err)
		}
		s := Share{K: uint8(k), N: uint8(n), ID: uint8(len(out) + 1), Serial: serial, Commit: cs}
		copy(s.Value[:], v)
		out = append(out, s)
	}
	return out, nil
}

// keyScalar maps the key to a scalar: 32 bytes little-endian, the key in
// the low 16 (always below the group order, so canonical).
func keyScalar(key []byte) (group.Scalar, error) {
	b := make([]byte, scalarSize)
	copy(b, key)
	s := g.NewScalar()
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("keyshare: key scalar: %w", err)
	}
	return s, nil
}

// Combine recovers the key from shares of the card with the given
// serial. The shares must come from one split (same k, n, serial and
// commitment; ErrInconsistent, ErrWrongCard), have distinct indices,
// and each must verify against the commitment (ErrBadShare); at least k
// must remain (ErrTooFew). The recovered key is checked against the
// commitment once more.
func Combine(shares []Share, serial [SerialSize]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: none", ErrTooFew)
	}
	first := shares[0]
	commit := make([]group.Element, len(first.Commit))
	for i, c := range first.Commit {
		e := g.NewElement()
		if err := e.UnmarshalBinary(c[:]); err != nil {
			return nil, fmt.Errorf("%w: commitment %d", ErrEncoding, i)
		}
		commit[i] = e
	}
	seen := map[uint8]bool{}
	var good []secretsharing.Share
	for _, s := range shares {
		if err := s.check(); err != nil {
			return nil, err
		}
		if s.K != first.K || s.N != first.N || s.Serial != first.Serial || !sameCommit(s.Commit, first.Commit) {
			return nil, fmt.Errorf("%w: share %d", ErrInconsistent, s.ID)
		}
		if s.Serial != serial {
			return nil, fmt.Errorf("%w: share %d is for card %x", ErrWrongCard, s.ID, s.Serial)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("%w: share %d given twice", ErrInconsistent, s.ID)
		}
		seen[s.ID] = true
		v := g.NewScalar()
		if err := v.UnmarshalBinary(s.Value[:]); err != nil {
			return nil, fmt.Errorf("%w: share %d value", ErrBadShare, s.ID)
		}
		sh := secretsharing.Share{ID: g.NewScalar().SetUint64(uint64(s.ID)), Value: v}
		if !secretsharing.Verify(uint(first.K-1), sh, commit) {
			return nil, fmt.Errorf("%w: share %d", ErrBadShare, s.ID)
		}
		good = append(good, sh)
	}
	if len(good) < int(first.K) {
		return nil, fmt.Errorf("%w: %d of the %d needed", ErrTooFew, len(good), first.K)
	}
	secret, err := secretsharing.Recover(uint(first.K-1), good)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooFew, err)
	}
	if !g.NewElement().MulGen(secret).IsEqual(commit[0]) {
		return nil, fmt.Errorf("%w: recovered secret", ErrBadShare)
	}
	b, err := secret.MarshalBinary()
	if err != nil || len(b) != scalarSize || !bytes.Equal(b[KeySize:], make([]byte, scalarSize-KeySize)) {
		return nil, fmt.Errorf("%w: recovered secret is not a key", ErrBadShare)
	}
	return b[:KeySize], nil
}

func sameCommit(a, b [][elementSize]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// check enforces the parameter rules on one share.
func (s Share) check() error {
	if s.K < 2 || s.K > s.N || s.N > MaxShares || s.ID < 1 || s.ID > s.N || len(s.Commit) != int(s.K) {
		return fmt.Errorf("%w: k=%d n=%d id=%d with %d commitments", ErrEncoding, s.K, s.N, s.ID, len(s.Commit))
	}
	return nil
}

// Marshal encodes a share: "FPKS" ‖ version 01 ‖ k ‖ n ‖ id ‖ serial (8)
// ‖ value (32, little-endian scalar) ‖ k commitments (32 each,
// Ristretto255 encoding).
func (s Share) Marshal() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := append(append([]byte{}, magic...), version, s.K, s.N, s.ID)
	out = append(out, s.Serial[:]...)
	out = append(out, s.Value[:]...)
	for _, c := range s.Commit {
		out = append(out, c[:]...)
	}
	return out, nil
}

// Parse decodes exactly one share (the Marshal format), strictly.
func Parse(b []byte) (Share, error) {
	if len(b) < headerSize+scalarSize || len(b) > MaxEncodedSize {
		return Share{}, fmt.Errorf("%w: %d bytes", ErrEncoding, len(b))
	}
	if !bytes.Equal(b[:4], magic) || b[4] != version {
		return Share{}, fmt.Errorf("%w: not a version-1 share", ErrEncoding)
	}
	s := Share{K: b[5], N: b[6], ID: b[7]}
	copy(s.Serial[:], b[8:headerSize])
	copy(s.Value[:], b[headerSize:headerSize+scalarSize])
	rest := b[headerSize+scalarSize:]
	if len(rest) != int(s.K)*elementSize {
		return Share{}, fmt.Errorf("%w: %d commitment bytes for k=%d", ErrEncoding, len(rest), s.K)
	}
	for len(rest) > 0 {
		var c [elementSize]byte
		copy(c[:], rest)
		s.Commit = append(s.Commit, c)
		rest = rest[elementSize:]
	}
	if err := s.check(); err != nil {
		return Share{}, err
	}
	return s, nil
}

// SerialOf converts a card serial read from the card (GET DATA 0103).
func SerialOf(b []byte) ([SerialSize]byte, error) {
	var s [SerialSize]byte
	if len(b) != SerialSize {
		return s, fmt.Errorf("%w: serial of %d bytes", ErrEncoding, len(b))
	}
	copy(s[:], b)
	return s, nil
}
