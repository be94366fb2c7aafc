package kmproto

import "fmt"

// TagType is keymaster_tag_type_t: the top four bits of a Tag say how its
// value is encoded (keymaster_defs.h; AIDL TagType.aidl).
type TagType uint32

// keymaster_tag_type_t values.
const (
	TypeInvalid  TagType = 0 << 28  // KM_INVALID
	TypeEnum     TagType = 1 << 28  // KM_ENUM: u32
	TypeEnumRep  TagType = 2 << 28  // KM_ENUM_REP: repeatable u32
	TypeUint     TagType = 3 << 28  // KM_UINT: u32
	TypeUintRep  TagType = 4 << 28  // KM_UINT_REP: repeatable u32
	TypeUlong    TagType = 5 << 28  // KM_ULONG: u64
	TypeDate     TagType = 6 << 28  // KM_DATE: u64 ms since the epoch
	TypeBool     TagType = 7 << 28  // KM_BOOL: presence means true
	TypeBignum   TagType = 8 << 28  // KM_BIGNUM: bytes
	TypeBytes    TagType = 9 << 28  // KM_BYTES: bytes
	TypeUlongRep TagType = 10 << 28 // KM_ULONG_REP: repeatable u64
)

const tagTypeMask = 0xF << 28

// Valid reports whether t is a defined, non-INVALID tag type.
func (t TagType) Valid() bool { return t >= TypeEnum && t <= TypeUlongRep && t&^tagTypeMask == 0 }

// Repeatable reports whether a tag of type t may appear more than once
// (keymaster_tag_repeatable: ENUM_REP, UINT_REP, ULONG_REP).
func (t TagType) Repeatable() bool {
	return t == TypeEnumRep || t == TypeUintRep || t == TypeUlongRep
}

// valueSize is the fixed encoded size of a value of type t, or -1 for the
// length-prefixed byte types.
func (t TagType) valueSize() int {
	switch t {
	case TypeEnum, TypeEnumRep, TypeUint, TypeUintRep:
		return 4
	case TypeUlong, TypeDate, TypeUlongRep:
		return 8
	case TypeBool:
		return 0
	}
	return -1
}

func (t TagType) isInt() bool { return t.valueSize() > 0 }

func (t TagType) isBytes() bool { return t == TypeBignum || t == TypeBytes }

func (t TagType) String() string {
	switch t {
	case TypeInvalid:
		return "INVALID"
	case TypeEnum:
		return "ENUM"
	case TypeEnumRep:
		return "ENUM_REP"
	case TypeUint:
		return "UINT"
	case TypeUintRep:
		return "UINT_REP"
	case TypeUlong:
		return "ULONG"
	case TypeDate:
		return "DATE"
	case TypeBool:
		return "BOOL"
	case TypeBignum:
		return "BIGNUM"
	case TypeBytes:
		return "BYTES"
	case TypeUlongRep:
		return "ULONG_REP"
	}
	return fmt.Sprintf("tag_type(0x%X)", uint32(t))
}

// Tag is keymaster_tag_t: a TagType in the top four bits and a tag number
// in the low 28 (AIDL Tag.aidl; values are AOSP's).
type Tag uint32

// Key-parameter tags the Keymaster TA understands (AOSP Tag.aidl and keymaster_defs.h).
const (
	TagPurpose        = Tag(TypeEnumRep) | 1    // KM_TAG_PURPOSE (0x20000001), KeyPurpose
	TagAlgorithm      = Tag(TypeEnum) | 2       // KM_TAG_ALGORITHM (0x10000002), Algorithm
	TagKeySize        = Tag(TypeUint) | 3       // KM_TAG_KEY_SIZE (0x30000003), bits
	TagDigest         = Tag(TypeEnumRep) | 5    // KM_TAG_DIGEST (0x20000005), Digest
	TagECCurve        = Tag(TypeEnum) | 10      // KM_TAG_EC_CURVE (0x1000000A), EcCurve
	TagUserSecureID   = Tag(TypeUlongRep) | 502 // KM_TAG_USER_SECURE_ID (0xA00001F6)
	TagNoAuthRequired = Tag(TypeBool) | 503     // KM_TAG_NO_AUTH_REQUIRED (0x700001F7)
	TagUserAuthType   = Tag(TypeEnum) | 504     // KM_TAG_USER_AUTH_TYPE (0x100001F8), hw_authenticator_type_t mask
	TagAuthTimeout    = Tag(TypeUint) | 505     // KM_TAG_AUTH_TIMEOUT (0x300001F9), seconds
)

// Type returns the tag's type (keymaster_tag_get_type).
func (t Tag) Type() TagType { return TagType(uint32(t) & tagTypeMask) }

// Repeatable reports whether the tag may appear more than once.
func (t Tag) Repeatable() bool { return t.Type().Repeatable() }

var tagNames = map[Tag]string{
	TagPurpose:        "PURPOSE",
	TagAlgorithm:      "ALGORITHM",
	TagKeySize:        "KEY_SIZE",
	TagDigest:         "DIGEST",
	TagECCurve:        "EC_CURVE",
	TagUserSecureID:   "USER_SECURE_ID",
	TagNoAuthRequired: "NO_AUTH_REQUIRED",
	TagUserAuthType:   "USER_AUTH_TYPE",
	TagAuthTimeout:    "AUTH_TIMEOUT",
}

func (t Tag) String() string {
	if n, ok := tagNames[t]; ok {
		return n
	}
	return fmt.Sprintf("%s|%d", t.Type(), uint32(t)&^tagTypeMask)
}

// Algorithm is the value of TagAlgorithm (AIDL Algorithm.aidl).
type Algorithm uint32

// Algorithms. Only EC is supported by this TA; the others are listed so
// that a request naming them gets UNSUPPORTED_ALGORITHM rather than a
// parse error.
const (
	AlgorithmRSA  Algorithm = 1   // KM_ALGORITHM_RSA
	AlgorithmEC   Algorithm = 3   // KM_ALGORITHM_EC
	AlgorithmAES  Algorithm = 32  // KM_ALGORITHM_AES
	AlgorithmHMAC Algorithm = 128 // KM_ALGORITHM_HMAC
)

// ECCurve is the value of TagECCurve (AIDL EcCurve.aidl).
type ECCurve uint32

// EC curves. P-256 is AOSP's; SM2 is an fpemu extension.
const (
	CurveP256 ECCurve = 1 // KM_EC_CURVE_P_256
	// CurveSM2 is the SM2 curve of GB/T 32918.5-2017 with SM2 signatures
	// (GM/T 0003.2 / GB/T 32918.2), an fpemu extension outside AOSP's
	// EcCurve range. As with CURVE_25519 in KeyMint (ALGORITHM EC, the
	// curve implies EdDSA), the curve selects the signature scheme.
	CurveSM2 ECCurve = 0x10000
)

// Purpose is the value of TagPurpose (AIDL KeyPurpose.aidl).
type Purpose uint32

// Key purposes.
const (
	PurposeEncrypt Purpose = 0 // KM_PURPOSE_ENCRYPT
	PurposeDecrypt Purpose = 1 // KM_PURPOSE_DECRYPT
	PurposeSign    Purpose = 2 // KM_PURPOSE_SIGN
	PurposeVerify  Purpose = 3 // KM_PURPOSE_VERIFY
)

// Digest is the value of TagDigest (AIDL Digest.aidl).
type Digest uint32

// Digests. SHA-256 is AOSP's; SM3 is an fpemu extension.
const (
	DigestNone   Digest = 0 // KM_DIGEST_NONE
	DigestSHA256 Digest = 4 // KM_DIGEST_SHA_2_256
	// DigestSM3 is SM3 (GB/T 32905-2016), an fpemu extension outside
	// AOSP's Digest range; SM2 keys must name it.
	DigestSM3 Digest = 0x10000
)
