package otp

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm4"

	"github.com/fpemu/fpemu/payserver/store"
)

// SealKeyLen is a Sealer key's length (SM4, 128 bits).
const SealKeyLen = 16

// sealLabel starts the associated data: it names the format and purpose,
// so a sealed seed cannot be opened as anything else.
const sealLabel = "fpemu/otp-seed/v1\x00"

// ErrSealed: a sealed seed that does not open under this key for this
// (device, app, parameters): tampered, moved to another row, or sealed
// under another key.
var ErrSealed = errors.New("otp: sealed seed does not open")

// Sealer seals seeds for the store with SM4-GCM (GB/T 32907 SM4 in the
// NIST SP 800-38D GCM mode; a random 96-bit nonce per seal). The key
// lives outside the database (the server's key file), so a copy of the
// database alone mints no codes.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a SealKeyLen-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealKeyLen {
		return nil, fmt.Errorf("%w: seal key of %d bytes, want %d", ErrParams, len(key), SealKeyLen)
	}
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("otp: seal key: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("otp: seal key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// ad binds a sealed seed to its row and parameters: a seed moved to
// another device or app, or its parameters changed in the database, no
// longer opens.
func ad(ref store.OTPRef, p Params) []byte {
	b := []byte(sealLabel)
	b = append(b, ref.Device[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ref.App)))
	b = append(b, ref.App...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Algorithm)))
	b = append(b, p.Algorithm...)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Digits))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Period.Seconds()))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Epoch))
	return b
}

// Seal returns nonce ‖ SM4-GCM(seed) for the store row (ref, p).
func (s *Sealer) Seal(ref store.OTPRef, p Params, seed []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkSeed(seed); err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(seed)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("otp: nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, seed, ad(ref, p)), nil
}

// Open returns the seed sealed for (ref, p), or ErrSealed.
func (s *Sealer) Open(ref store.OTPRef, p Params, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead()+MinSeedLen || len(sealed) > n+s.aead.Overhead()+MaxSeedLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrSealed, len(sealed))
	}
	seed, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad(ref, p))
	if err != nil {
		return nil, ErrSealed
	}
	return seed, nil
}

// MaxSealedLen is the longest Seal output (nonce, MaxSeedLen, tag).
const MaxSealedLen = 12 + MaxSeedLen + 16

// NewSeed returns DefaultSeedLen random bytes from crypto/rand.
func NewSeed() ([]byte, error) {
	b := make([]byte, DefaultSeedLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("otp: seed: %w", err)
	}
	return b, nil
}

// Record is the store row for a seed sealed for (ref, p).
func Record(ref store.OTPRef, p Params, sealed []byte) store.OTPSeed {
	return store.OTPSeed{Ref: ref, Algorithm: string(p.Algorithm), Digits: p.Digits,
		PeriodSeconds: int(p.Period.Seconds()), Epoch: p.Epoch, Sealed: sealed}
}

// ParamsOf returns the parameters a store row holds.
func ParamsOf(r store.OTPSeed) (Params, error) {
	p := Params{Algorithm: Algorithm(r.Algorithm), Digits: r.Digits, Period: secondsDur(r.PeriodSeconds), Epoch: r.Epoch}
	return p, p.Validate()
}
