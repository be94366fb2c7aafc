package kmproto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
)

// KeySizeBits is the only key size of the supported curves.
const KeySizeBits = 256

// PublicKeySize is the length of an uncompressed public point
// 0x04 || X || Y (SEC 1 §2.3.3; GB/T 32918.1 §4.2.9 for SM2).
const PublicKeySize = 65

// MaxSignatureSize is the largest ASN.1 DER ECDSA/SM2 signature over a
// 256-bit curve: SEQUENCE { INTEGER r, INTEGER s } with 33-byte integers.
const MaxSignatureSize = 72

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
