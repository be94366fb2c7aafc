package keymaster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

// KeySizeBits is the only key size of the supported curves.
const KeySizeBits = 256

// PublicKeySize is the length of an uncompressed public point
// 0x04 || X || Y (SEC 1 §2.3.3; GB/T 32918.1 §4.2.9 for SM2).
const PublicKeySize = 65

// MaxSignatureSize is the largest ASN.1 DER ECDSA/SM2 signature over a
// 256-bit curve: SEQUENCE { INTEGER r, INTEGER s } with 33-byte integers.
const MaxSignatureSize = 72

// supportedTags are the tags GENERATE_KEY accepts; any other tag is
// KM_ERROR_UNSUPPORTED_TAG, so that a caller never gets a key that
// silently ignores a restriction it asked for.
var supportedTags = []Tag{
	TagPurpose, TagAlgorithm, TagKeySize, TagDigest, TagECCurve,
	TagUserSecureID, TagNoAuthRequired, TagUserAuthType, TagAuthTimeout,
}

// keySpec is what the TA needs to know to use a key.
type keySpec struct {
	curve  ECCurve
	digest Digest
}

// digestFor is the one digest each curve signs with: SHA-256 for ECDSA
// P-256 (FIPS 186-4), SM3 for SM2 (GB/T 32918.2 with Z_A per GM/T 0009).
func digestFor(c ECCurve) Digest {
	if c == CurveSM2 {
		return DigestSM3
	}
	return DigestSHA256
}

// checkKeyParams validates the parameters of a signing key, as
// generateKey does (IKeyMintDevice.aidl generateKey; KMR keys.rs
// generate_key): ALGORITHM must be EC (else UNSUPPORTED_ALGORITHM),
// EC_CURVE P_256 or SM2 (else UNSUPPORTED_EC_CURVE), KEY_SIZE if present
// 256 (else UNSUPPORTED_KEY_SIZE), every PURPOSE SIGN or VERIFY and at
// least one (else UNSUPPORTED_PURPOSE), exactly the curve's DIGEST (an
// unknown digest is UNSUPPORTED_DIGEST, a missing, extra or mismatched one
// INCOMPATIBLE_DIGEST). The user-authentication tags are stored as given
// and enforced at begin (enforce.go), as AOSP does.
func checkKeyParams(ps Params) (keySpec, error) {
	for _, p := range ps {
		if !slices.Contains(supportedTags, p.Tag) {
			return keySpec{}, kmErr(ErrorUnsupportedTag, "tag %s", p.Tag)
		}
	}
	alg, ok := ps.Get(TagAlgorithm)
	if !ok || Algorithm(alg.Int) != AlgorithmEC {
		return keySpec{}, kmErr(ErrorUnsupportedAlgorithm, "ALGORITHM must be EC (%d)", AlgorithmEC)
	}
	cp, ok := ps.Get(TagECCurve)
	curve := ECCurve(cp.Int)
	if !ok || (curve != CurveP256 && curve != CurveSM2) {
		return keySpec{}, kmErr(ErrorUnsupportedECCurve, "EC_CURVE must be P_256 (%d) or SM2 (%d)", CurveP256, CurveSM2)
	}
	if ks, ok := ps.Get(TagKeySize); ok && ks.Int != KeySizeBits {
		return keySpec{}, kmErr(ErrorUnsupportedKeySize, "KEY_SIZE %d, want %d", ks.Int, KeySizeBits)
	}
	purposes := ps.Ints(TagPurpose)
	if len(purposes) == 0 {
		return keySpec{}, kmErr(ErrorUnsupportedPurpose, "no PURPOSE")
	}
	for _, p := range purposes {
		if Purpose(p) != PurposeSign && Purpose(p) != PurposeVerify {
			return keySpec{}, kmErr(ErrorUnsupportedPurpose, "PURPOSE %d on an EC key", p)
		}
	}
	want := digestFor(curve)
	digests := ps.Ints(TagDigest)
	for _, d := range digests {
		switch Digest(d) {
		case DigestNone, DigestSHA256, DigestSM3:
		default:
			return keySpec{}, kmErr(ErrorUnsupportedDigest, "DIGEST %d", d)
		}
	}
	if len(digests) != 1 || Digest(digests[0]) != want {
		return keySpec{}, kmErr(ErrorIncompatibleDigest, "curve %d signs with DIGEST %d only", curve, want)
	}
	return keySpec{curve: curve, digest: want}, nil
}

// generateScalar returns a fresh private scalar (32 bytes, big-endian) for
// curve, from crypto/rand.
func generateScalar(curve ECCurve) ([]byte, error) {
	switch curve {
	case CurveP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.Bytes()
	case CurveSM2:
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.D.FillBytes(make([]byte, scalarSize)), nil
	}
	return nil, kmErr(ErrorUnsupportedECCurve, "curve %d", curve)
}

func uncompressed(x, y *big.Int) []byte {
	b := make([]byte, PublicKeySize)
	b[0] = 4
	x.FillBytes(b[1:33])
	y.FillBytes(b[33:])
	return b
}

// privateKey is a loaded signing key: parsed once, used by many
// operations.
type privateKey struct {
	curve ECCurve
	p256  *ecdsa.PrivateKey
	sm2   *sm2.PrivateKey
	za    []byte // SM2: Z_A for the default user ID
	pub   []byte // uncompressed public point
}

// loadKey parses a private scalar for curve and precomputes what every
// signature needs (the public key, and for SM2 Z_A).
func loadKey(curve ECCurve, scalar []byte) (*privateKey, error) {
	switch curve {
	case CurveP256:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
		if err != nil {
			return nil, err
		}
		return &privateKey{curve: curve, p256: k, pub: uncompressed(k.X, k.Y)}, nil
	case CurveSM2:
		k, err := sm2.NewPrivateKey(scalar)
		if err != nil {
			return nil, err
		}
		za, err := sm2.CalculateZA(&k.PublicKey, nil) // default uid (GM/T 0009)
		if err != nil {
			return nil, err
		}
		return &privateKey{curve: curve, sm2: k, za: za, pub: uncompressed(k.X, k.Y)}, nil
	}
	return nil, kmErr(ErrorUnsupportedECCurve, "curve %d", curve)
}

// signer is one signing operation: the message is absorbed with Write,
// Sign produces the ASN.1 DER signature once.
type signer struct {
	key *privateKey
	h   hash.Hash
}

// newSigner starts a signature with k. For P-256 the message is hashed
// with SHA-256 and signed with ECDSA (FIPS 186-4, ASN.1 DER
// Ecdsa-Sig-Value). For SM2 the digest is SM3(Z_A || M) with the default
// user ID "1234567812345678" (GB/T 32918.2-2016 §6.1; GM/T 0009-2012 §10)
// and the signature is SM2 (GB/T 32918.2), DER SEQUENCE{r, s} (GM/T 0009).
func (k *privateKey) newSigner() *signer {
	if k.curve == CurveSM2 {
		h := sm3.New()
		h.Write(k.za)
		return &signer{key: k, h: h}
	}
	return &signer{key: k, h: sha256.New()}
}

func (s *signer) Write(p []byte) { s.h.Write(p) }

func (s *signer) Sign() ([]byte, error) {
	d := s.h.Sum(nil)
	if s.key.curve == CurveSM2 {
		return sm2.SignASN1(rand.Reader, s.key.sm2, d, nil)
	}
	return ecdsa.SignASN1(rand.Reader, s.key.p256, d)
}

// ErrBadSignature is returned by VerifySignature for a signature that does
// not verify, and (wrapped) for an unusable public key or curve.
var ErrBadSignature = errors.New("keymaster: signature verification failed")

// VerifySignature checks, outside the TA, a signature produced by FINISH
// over msg with the public key GENERATE_KEY returned (65-byte uncompressed
// point): ECDSA P-256 over SHA-256, or SM2 with the default user ID.
func VerifySignature(curve ECCurve, pub, msg, sig []byte) error {
	switch curve {
	case CurveP256:
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
		if err != nil {
			return fmt.Errorf("%w: public key: %v", ErrBadSignature, err)
		}
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, d[:], sig) {
			return ErrBadSignature
		}
		return nil
	case CurveSM2:
		k, err := sm2.NewPublicKey(pub)
		if err != nil {
			return fmt.Errorf("%w: public key: %v", ErrBadSignature, err)
		}
		if !sm2.VerifyASN1WithSM2(k, nil, msg, sig) {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported curve %d", ErrBadSignature, curve)
}
