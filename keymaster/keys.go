package keymaster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"math/big"
	"slices"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"

	"github.com/fpemu/fpemu/keymaster/kmproto"
)

// supportedTags are the tags GENERATE_KEY accepts; any other tag is
// KM_ERROR_UNSUPPORTED_TAG, so that a caller never gets a key that
// silently ignores a restriction it asked for.
var supportedTags = []kmproto.Tag{
	kmproto.TagPurpose, kmproto.TagAlgorithm, kmproto.TagKeySize, kmproto.TagDigest, kmproto.TagECCurve,
	kmproto.TagUserSecureID, kmproto.TagNoAuthRequired, kmproto.TagUserAuthType, kmproto.TagAuthTimeout,
}

// keySpec is what the TA needs to know to use a key.
type keySpec struct {
	curve  kmproto.ECCurve
	digest kmproto.Digest
}

// digestFor is the one digest each curve signs with: SHA-256 for ECDSA
// P-256 (FIPS 186-4), SM3 for SM2 (GB/T 32918.2 with Z_A per GM/T 0009).
func digestFor(c kmproto.ECCurve) kmproto.Digest {
	if c == kmproto.CurveSM2 {
		return kmproto.DigestSM3
	}
	return kmproto.DigestSHA256
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
func checkKeyParams(ps kmproto.Params) (keySpec, error) {
	for _, p := range ps {
		if !slices.Contains(supportedTags, p.Tag) {
			return keySpec{}, kmErr(kmproto.ErrorUnsupportedTag, "tag %s", p.Tag)
		}
	}
	alg, ok := ps.Get(kmproto.TagAlgorithm)
	if !ok || kmproto.Algorithm(alg.Int) != kmproto.AlgorithmEC {
		return keySpec{}, kmErr(kmproto.ErrorUnsupportedAlgorithm, "ALGORITHM must be EC (%d)", kmproto.AlgorithmEC)
	}
	cp, ok := ps.Get(kmproto.TagECCurve)
	curve := kmproto.ECCurve(cp.Int)
	if !ok || (curve != kmproto.CurveP256 && curve != kmproto.CurveSM2) {
		return keySpec{}, kmErr(kmproto.ErrorUnsupportedECCurve, "EC_CURVE must be P_256 (%d) or SM2 (%d)", kmproto.CurveP256, kmproto.CurveSM2)
	}
	if ks, ok := ps.Get(kmproto.TagKeySize); ok && ks.Int != kmproto.KeySizeBits {
		return keySpec{}, kmErr(kmproto.ErrorUnsupportedKeySize, "KEY_SIZE %d, want %d", ks.Int, kmproto.KeySizeBits)
	}
	purposes := ps.Ints(kmproto.TagPurpose)
	if len(purposes) == 0 {
		return keySpec{}, kmErr(kmproto.ErrorUnsupportedPurpose, "no PURPOSE")
	}
	for _, p := range purposes {
		if kmproto.Purpose(p) != kmproto.PurposeSign && kmproto.Purpose(p) != kmproto.PurposeVerify {
			return keySpec{}, kmErr(kmproto.ErrorUnsupportedPurpose, "PURPOSE %d on an EC key", p)
		}
	}
	want := digestFor(curve)
	digests := ps.Ints(kmproto.TagDigest)
	for _, d := range digests {
		switch kmproto.Digest(d) {
		case kmproto.DigestNone, kmproto.DigestSHA256, kmproto.DigestSM3:
		default:
			return keySpec{}, kmErr(kmproto.ErrorUnsupportedDigest, "DIGEST %d", d)
		}
	}
	if len(digests) != 1 || kmproto.Digest(digests[0]) != want {
		return keySpec{}, kmErr(kmproto.ErrorIncompatibleDigest, "curve %d signs with DIGEST %d only", curve, want)
	}
	return keySpec{curve: curve, digest: want}, nil
}

// generateScalar returns a fresh private scalar (32 bytes, big-endian) for
// curve, from crypto/rand.
func generateScalar(curve kmproto.ECCurve) ([]byte, error) {
	switch curve {
	case kmproto.CurveP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.Bytes()
	case kmproto.CurveSM2:
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.D.FillBytes(make([]byte, kmproto.BlobScalarSize)), nil
	}
	return nil, kmErr(kmproto.ErrorUnsupportedECCurve, "curve %d", curve)
}

func uncompressed(x, y *big.Int) []byte {
	b := make([]byte, kmproto.PublicKeySize)
	b[0] = 4
	x.FillBytes(b[1:33])
	y.FillBytes(b[33:])
	return b
}

// privateKey is a loaded signing key: parsed once, used by many
// operations.
type privateKey struct {
	curve kmproto.ECCurve
	p256  *ecdsa.PrivateKey
	sm2   *sm2.PrivateKey
	za    []byte // SM2: Z_A for the default user ID
	pub   []byte // uncompressed public point
}

// loadKey parses a private scalar for curve and precomputes what every
// signature needs (the public key, and for SM2 Z_A).
func loadKey(curve kmproto.ECCurve, scalar []byte) (*privateKey, error) {
	switch curve {
	case kmproto.CurveP256:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
		if err != nil {
			return nil, err
		}
		return &privateKey{curve: curve, p256: k, pub: uncompressed(k.X, k.Y)}, nil
	case kmproto.CurveSM2:
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
	return nil, kmErr(kmproto.ErrorUnsupportedECCurve, "curve %d", curve)
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
	if k.curve == kmproto.CurveSM2 {
		h := sm3.New()
		h.Write(k.za)
		return &signer{key: k, h: h}
	}
	return &signer{key: k, h: sha256.New()}
}

func (s *signer) Write(p []byte) { s.h.Write(p) }

func (s *signer) Sign() ([]byte, error) {
	d := s.h.Sum(nil)
	if s.key.curve == kmproto.CurveSM2 {
		return sm2.SignASN1(rand.Reader, s.key.sm2, d, nil)
	}
	return ecdsa.SignASN1(rand.Reader, s.key.p256, d)
}
