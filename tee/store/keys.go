package store

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// MinStorageKeySize is the shortest storage key Open and OpenFileCounter
// accept. The launcher provisions 32 bytes; 16 is the floor so that a
// truncated key is refused rather than silently weakening every derived key.
const MinStorageKeySize = 16

// HKDF-SHA256 labels (RFC 5869 "info"). Each key the store uses is derived
// from the TA's storage key under its own label, so a key compromised in one
// role says nothing about the others, and nothing is ever keyed directly
// with the storage key. The labels are part of the on-disk format.
const (
	labelSealKey    = "fpemu/tee/store/v1 seal key SM4-GCM"
	labelDigestKey  = "fpemu/tee/store/v1 state digest key HMAC-SHA256"
	labelCounterKey = "fpemu/tee/store/v1 rpmb authentication key HMAC-SHA256"
)

// Derived key sizes.
const (
	sealKeySize    = 16 // SM4 (GB/T 32907-2016) has a 128-bit key
	digestKeySize  = 32
	counterKeySize = 32
)

// deriveKey is HKDF-SHA256(secret = storageKey, salt = none, info = label).
// The storage key is already uniformly random (the launcher derives it from
// the fused device key), so an empty salt is what RFC 5869 §3.1 allows.
func deriveKey(storageKey []byte, label string, n int) ([]byte, error) {
	if len(storageKey) < MinStorageKeySize {
		return nil, invalidf("storage key is %d bytes, need at least %d", len(storageKey), MinStorageKeySize)
	}
	return hkdf.Key(sha256.New, storageKey, nil, label, n)
}
