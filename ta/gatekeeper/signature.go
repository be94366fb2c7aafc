package gatekeeper

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
)

// PasswordKeySize is the size of the password key (Trusty
// HMAC_SHA_256_KEY_SIZE).
const PasswordKeySize = 32

// passwordKeyInfo is the HKDF info that separates the password key from
// every other key derived from the TA storage key. It plays the role of
// Trusty's hwkey derivation data "TrustyGateKeeperDerivationData0".
const passwordKeyInfo = "fpemu gatekeeper password key v1"

// ErrStorageKey is returned by DerivePasswordKey for an unusable storage key.
var ErrStorageKey = errors.New("gatekeeper: storage key must be at least 16 bytes")

// DerivePasswordKey derives the password key, the HMAC key of every handle
// signature, from the TA's storage key with HKDF-SHA256 (RFC 5869). Trusty
// derives its key from the device hardware key the same way
// (TrustyGateKeeper::DeriveMasterKey); a handle therefore verifies only on
// the device (storage key) that enrolled it.
func DerivePasswordKey(storageKey []byte) ([]byte, error) {
	if len(storageKey) < 16 {
		return nil, fmt.Errorf("%w (got %d)", ErrStorageKey, len(storageKey))
	}
	return hkdf.Key(sha256.New, storageKey, nil, passwordKeyInfo, PasswordKeySize)
}

// ComputePasswordSignature returns the signature of a handle over password:
//
//	HMAC-SHA256(passwordKey, salt || version || user_id || flags || password)
//
// salt, user_id and flags little-endian. This is
// TrustyGateKeeper::ComputePasswordSignature applied to the message that
// GateKeeper::CreatePasswordHandle builds (handle metadata, then password).
// The Signature and HardwareBacked fields of h are not used.
func ComputePasswordSignature(passwordKey []byte, h *gkproto.PasswordHandle, password []byte) [gkproto.SignatureSize]byte {
	m := hmac.New(sha256.New, passwordKey)
	var salt [8]byte
	binary.LittleEndian.PutUint64(salt[:], h.Salt)
	m.Write(salt[:])
	m.Write(h.MarshalSigned())
	m.Write(password)
	var sig [gkproto.SignatureSize]byte
	m.Sum(sig[:0])
	return sig
}

// CheckPassword reports whether password is the one h was enrolled with. The
// comparison is constant-time (hmac.Equal), as GateKeeper::DoVerify's
// memcmp_s.
func CheckPassword(passwordKey []byte, h *gkproto.PasswordHandle, password []byte) bool {
	want := ComputePasswordSignature(passwordKey, h, password)
	return hmac.Equal(want[:], h.Signature[:])
}
