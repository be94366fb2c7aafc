package proof

import (
	"encoding/binary"
	"fmt"

	"github.com/emmansun/gmsm/sm3"
)

// Version is the only format version this package emits or accepts.
const Version uint8 = 1

// Kind says what a signed body is. It sits at the same offset (1) in every
// body, so a body of one kind never verifies as another.
type Kind uint8

// Body kinds.
const (
	KindDevice  Kind = 1 // device attestation key certificate (self-signed)
	KindApp     Kind = 2 // app key certificate, signed by the device key
	KindScene   Kind = 3 // scene (payment) key certificate, signed by the app key
	KindPayment Kind = 4 // payment statement, signed by a scene key
)

func (k Kind) String() string {
	switch k {
	case KindDevice:
		return "device"
	case KindApp:
		return "app"
	case KindScene:
		return "scene"
	case KindPayment:
		return "payment"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Sizes and bounds of version 1.
const (
	DeviceIDSize  = 16 // first 16 bytes of SM3(device public key)
	PublicKeySize = 65 // uncompressed SM2 point 0x04 ‖ X ‖ Y (GB/T 32918.1 §4.2.9)
	BindingSize   = sm3.Size
	HashSize      = sm3.Size
	MaxAppIDLen   = 128
	MaxSceneLen   = 64
	// MaxSignatureSize is the longest DER SM2 signature: SEQUENCE of two
	// INTEGERs of up to 33 bytes each.
	MaxSignatureSize = 72

	certFixed      = 1 + 1 + DeviceIDSize + 8 + 4 + 8 + BindingSize + PublicKeySize
	statementFixed = 1 + 1 + DeviceIDSize + 8 + 8 + HashSize + 4 + 4 + 4 + 4
	// MaxCertSize and MaxStatementSize bound the bodies.
	MaxCertSize      = certFixed + 2 + MaxAppIDLen + 2 + MaxSceneLen
	MaxStatementSize = statementFixed + 2 + MaxAppIDLen + 2 + MaxSceneLen + 1 // + version 2's flags
	// MaxBodySize bounds any signed body.
	MaxBodySize = max(MaxCertSize, MaxStatementSize)
	// MaxSignedSize bounds a signed object (body ‖ signature, framed).
	MaxSignedSize = 4 + MaxBodySize + 2 + MaxSignatureSize
)

// DeviceID is the device identifier carried by every body.
type DeviceID [DeviceIDSize]byte

// PublicKey is an SM2 public key as an uncompressed point.
type PublicKey [PublicKeySize]byte

// DeviceIDOf returns the identifier of the device whose attestation public
// key is pub: the first 16 bytes of SM3(pub).
func DeviceIDOf(pub PublicKey) DeviceID {
	h := sm3.Sum(pub[:])
	var id DeviceID
	copy(id[:], h[:DeviceIDSize])
	return id
}

// bindingLabel separates finger-binding digests from any other SM3 input.
const bindingLabel = "fpemu payment finger binding v1"

// FingerBinding is the digest a scene key is bound to at creation:
//
//	SM3("fpemu payment finger binding v1" ‖ u32 gid ‖ u64 authenticator_id
//	    ‖ u32 count ‖ u32 finger_id[count])
//
// with the finger ids strictly increasing (as bio.FingerList carries
// them). Enrolling a finger changes the authenticator id and the ids,
// removing one changes the ids: either changes the binding.
func FingerBinding(gid uint32, authenticatorID uint64, fingerIDs []uint32) [BindingSize]byte {
	b := make([]byte, 0, len(bindingLabel)+16+4*len(fingerIDs))
	b = append(b, bindingLabel...)
	b = binary.BigEndian.AppendUint32(b, gid)
	b = binary.BigEndian.AppendUint64(b, authenticatorID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(fingerIDs)))
	for _, f := range fingerIDs {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	return sm3.Sum(b)
}

// PayloadHash is SM3 of a payment payload (GM/T 0004-2012).
func PayloadHash(payload []byte) [HashSize]byte { return sm3.Sum(payload) }

// checkNames checks the app id and scene lengths a kind requires.
func checkNames(k Kind, app, scene string) error {
	switch {
	case k == KindDevice && (app != "" || scene != ""):
		return fmt.Errorf("%w: device certificate with an app id or scene", ErrMalformed)
	case k != KindDevice && (len(app) == 0 || len(app) > MaxAppIDLen):
		return fmt.Errorf("%w: %s: app id of %d bytes, want 1..%d", ErrMalformed, k, len(app), MaxAppIDLen)
	case k == KindApp && scene != "":
		return fmt.Errorf("%w: app certificate with a scene", ErrMalformed)
	case (k == KindScene || k == KindPayment) && (len(scene) == 0 || len(scene) > MaxSceneLen):
		return fmt.Errorf("%w: %s: scene of %d bytes, want 1..%d", ErrMalformed, k, len(scene), MaxSceneLen)
	}
	return nil
}

func appendName(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
