package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/emmansun/gmsm/sm4"
)

// Sealed blob format, version 1 (see the package doc):
//
//	offset  size  field
//	0       1     format version (0x01)
//	1       12    GCM nonce (crypto/rand)
//	13      n     SM4-GCM ciphertext of the n-byte plaintext
//	13+n    16    GCM tag
//
// The associated data is version ‖ u16be(len(table)) ‖ table ‖
// u32be(len(identity)) ‖ identity; see associatedData.
const (
	// SealVersion is the format version byte of sealed blobs.
	SealVersion byte = 0x01
	// NonceSize is the GCM nonce length (NIST SP 800-38D §8.2.2, 96 bits).
	NonceSize = 12
	// TagSize is the GCM tag length (128 bits).
	TagSize = 16
	// Overhead is the length a sealed blob adds to its plaintext.
	Overhead = 1 + NonceSize + TagSize

	// MaxTable is the longest table label (bytes).
	MaxTable = 255
	// MaxIdentity is the longest row identity (bytes).
	MaxIdentity = 4096
	// MaxPlaintext is the largest value Seal accepts (16 MiB).
	MaxPlaintext = 16 << 20
)

// Sealer seals and unseals values with one TA's storage key. It is safe for
// concurrent use. A Store embeds one; NewSealer exists for values that live
// outside the database.
//
// Cipher: SM4-GCM (SM4 per GB/T 32907-2016 in GCM, NIST SP 800-38D), the
// same AEAD as fpemu's inter-TA envelopes, because the device's crypto
// profile is the Chinese commercial suite (SM2 payment keys, SM4 transport)
// that IFAA/SOTER-style payment TAs use; one AEAD for the whole secure world
// is one thing to audit. gmsm's SM4 has AES-NI/GFNI-based assembly on amd64
// and arm64, and its GCM mode is picked up by crypto/cipher.NewGCM. Random
// 96-bit nonces keep the collision probability negligible for far more
// seals than a TA performs under one storage key (SP 800-38D §8.3: ≤ 2^32).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from storageKey with
// HKDF-SHA256(info = "fpemu/tee/store/v1 seal key SM4-GCM").
func NewSealer(storageKey []byte) (*Sealer, error) {
	k, err := deriveKey(storageKey, labelSealKey, sealKeySize)
	if err != nil {
		return nil, err
	}
	block, err := sm4.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("store: sm4: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: gcm: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext for the row named by table and
// identity. table is the SQL table (or "table.column" when a table has more
// than one sealed column); identity is the row's canonical identity (see
// Identity). Both are bound as associated data, so the blob opens only for
// the same table and identity.
func (s *Sealer) Seal(table string, identity, plaintext []byte) ([]byte, error) {
	if err := checkLabel(table, identity); err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintext {
		return nil, invalidf("plaintext is %d bytes, max %d", len(plaintext), MaxPlaintext)
	}
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return s.sealWithNonce(table, identity, plaintext, nonce[:]), nil
}

// sealWithNonce is Seal with a caller-chosen nonce (golden vectors only).
func (s *Sealer) sealWithNonce(table string, identity, plaintext, nonce []byte) []byte {
	out := make([]byte, 1+NonceSize, Overhead+len(plaintext))
	out[0] = SealVersion
	copy(out[1:], nonce)
	return s.aead.Seal(out, nonce, plaintext, associatedData(SealVersion, table, identity))
}

// Unseal authenticates and decrypts a blob produced by Seal for the same
// table and identity. It returns ErrMalformed for a blob of impossible
// length or unknown version and ErrSealedCorrupt for one that does not
// authenticate; on error the plaintext is nil, never partial.
func (s *Sealer) Unseal(table string, identity, sealed []byte) ([]byte, error) {
	if err := checkLabel(table, identity); err != nil {
		return nil, err
	}
	nonce, ct, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	pt, err := s.aead.Open(nil, nonce, ct, associatedData(SealVersion, table, identity))
	if err != nil {
		return nil, ErrSealedCorrupt
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// parseSealed splits a version-1 blob into nonce and ciphertext‖tag. It is
// pure and strict: exact version, minimum and maximum lengths.
func parseSealed(b []byte) (nonce, ct []byte, err error) {
	switch {
	case len(b) < Overhead:
		return nil, nil, fmt.Errorf("%w: %d bytes, minimum %d", ErrMalformed, len(b), Overhead)
	case len(b) > Overhead+MaxPlaintext:
		return nil, nil, fmt.Errorf("%w: %d bytes, maximum %d", ErrMalformed, len(b), Overhead+MaxPlaintext)
	case b[0] != SealVersion:
		return nil, nil, fmt.Errorf("%w: unknown format version 0x%02x", ErrMalformed, b[0])
	}
	return b[1 : 1+NonceSize], b[1+NonceSize:], nil
}

// associatedData binds a sealed value to its format version, table and row
// identity: version ‖ u16be(len(table)) ‖ table ‖ u32be(len(identity)) ‖
// identity. Length prefixes make the (table, identity) → AD map injective.
func associatedData(version byte, table string, identity []byte) []byte {
	ad := make([]byte, 0, 1+2+len(table)+4+len(identity))
	ad = append(ad, version)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(table)))
	ad = append(ad, table...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(identity)))
	return append(ad, identity...)
}

func checkLabel(table string, identity []byte) error {
	switch {
	case table == "":
		return invalidf("empty table label")
	case len(table) > MaxTable:
		return invalidf("table label is %d bytes, max %d", len(table), MaxTable)
	case len(identity) == 0:
		return invalidf("empty row identity: every sealed value must be bound to its row")
	case len(identity) > MaxIdentity:
		return invalidf("row identity is %d bytes, max %d", len(identity), MaxIdentity)
	}
	return nil
}
