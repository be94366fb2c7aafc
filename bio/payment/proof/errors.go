package proof

import "errors"

// Sentinel errors. Every error of this package wraps exactly one of them.
var (
	// ErrMalformed: bytes that are not a canonical version-1 certificate,
	// statement or signed object, or a value that has no canonical
	// encoding.
	ErrMalformed = errors.New("proof: malformed")
	// ErrSignature: the SM2 signature does not verify under the issuer's
	// public key, or that public key is not a valid SM2 point.
	ErrSignature = errors.New("proof: bad signature")
	// ErrChain: a certificate or statement does not fit its issuer: wrong
	// kind, another device, another app or scene.
	ErrChain = errors.New("proof: does not chain to issuer")
	// ErrChallenge: the statement signs another challenge than the one the
	// server issued.
	ErrChallenge = errors.New("proof: challenge mismatch")
	// ErrPayload: the statement signs the hash of another payload.
	ErrPayload = errors.New("proof: payload hash mismatch")
)
