package gkproto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Password handle constants (AOSP system/gatekeeper
// include/gatekeeper/password_handle.h).
const (
	// HandleVersion is HANDLE_VERSION: the only version this TA issues and
	// accepts.
	HandleVersion = 2
	// HandleVersionThrottle is HANDLE_VERSION_THROTTLE: handles from this
	// version on carry throttling flags. Older handles would ask for
	// re-enrollment in AOSP; this TA never issued them (see ParseHandle).
	HandleVersionThrottle = 2
	// HandleFlagThrottleSecure is HANDLE_FLAG_THROTTLE_SECURE: the failure
	// record of the handle's SID lives in secure (persistent) storage.
	HandleFlagThrottleSecure uint64 = 1
	// HandleSize is sizeof(password_handle_t), packed.
	HandleSize = 58
	// SignatureSize is the size of password_handle_t.signature.
	SignatureSize = 32
	// signedPrefixSize is the metadata the signature covers before the
	// password: sizeof(version) + sizeof(user_id) + sizeof(flags)
	// (gatekeeper.cpp CreatePasswordHandle metadata_length).
	signedPrefixSize = 1 + 8 + 8
)

// Field offsets of password_handle_t (packed, host = little-endian order).
const (
	offHandleVersion   = 0
	offHandleUserID    = 1
	offHandleFlags     = 9
	offHandleSalt      = 17
	offHandleSignature = 25
	offHandleHWBacked  = 57
)

// Handle decoding errors. ParseHandle wraps exactly one of them, with
// detail, so callers test with errors.Is.
var (
	// ErrHandleLength: the handle is not exactly HandleSize bytes.
	ErrHandleLength = errors.New("gatekeeper: password handle length")
	// ErrHandleVersion: the version byte is not HandleVersion.
	ErrHandleVersion = errors.New("gatekeeper: unsupported password handle version")
	// ErrHandleFlags: flags has bits other than HandleFlagThrottleSecure.
	ErrHandleFlags = errors.New("gatekeeper: unknown password handle flags")
	// ErrHandleBool: hardware_backed is neither 0 nor 1.
	ErrHandleBool = errors.New("gatekeeper: password handle hardware_backed is not a bool")
)

// PasswordHandle is a decoded password_handle_t:
//
//	offset size field            signed
//	0      1    version          yes
//	1      8    user_id (SID)    yes   little-endian
//	9      8    flags            yes   little-endian
//	17     8    salt             no    little-endian
//	25     32   signature        no
//	57     1    hardware_backed  no    (C bool: 0 or 1)
//
// The signature is the TA's ComputePasswordSignature (package
// ta/gatekeeper) over version || user_id || flags || password, salted
// with salt.
type PasswordHandle struct {
	Version        uint8
	UserID         uint64 // secure user ID (SID) that HATs minted from this handle carry
	Flags          uint64
	Salt           uint64
	Signature      [SignatureSize]byte
	HardwareBacked bool
}

// ParseHandle decodes exactly HandleSize bytes. It is strict: a wrong
// length, a version other than HandleVersion, unknown flag bits or a
// hardware_backed byte other than 0/1 are errors (ErrHandleLength,
// ErrHandleVersion, ErrHandleFlags, ErrHandleBool) and the returned handle is
// then the zero value.
//
// AOSP accepts versions below HANDLE_VERSION_THROTTLE without throttling and
// asks for re-enrollment; this TA has only ever issued version 2 handles and
// a signature covers the version, so an older handle can never verify here
// and is rejected at parse time rather than given an unthrottled path.
func ParseHandle(b []byte) (PasswordHandle, error) {
	if len(b) != HandleSize {
		return PasswordHandle{}, fmt.Errorf("%w: %d bytes, want %d", ErrHandleLength, len(b), HandleSize)
	}
	h := PasswordHandle{
		Version: b[offHandleVersion],
		UserID:  binary.LittleEndian.Uint64(b[offHandleUserID:]),
		Flags:   binary.LittleEndian.Uint64(b[offHandleFlags:]),
		Salt:    binary.LittleEndian.Uint64(b[offHandleSalt:]),
	}
	copy(h.Signature[:], b[offHandleSignature:offHandleHWBacked])
	if h.Version != HandleVersion {
		return PasswordHandle{}, fmt.Errorf("%w: %d, want %d", ErrHandleVersion, h.Version, HandleVersion)
	}
	if h.Flags&^HandleFlagThrottleSecure != 0 {
		return PasswordHandle{}, fmt.Errorf("%w: 0x%x", ErrHandleFlags, h.Flags)
	}
	switch b[offHandleHWBacked] {
	case 0:
	case 1:
		h.HardwareBacked = true
	default:
		return PasswordHandle{}, fmt.Errorf("%w: 0x%02x", ErrHandleBool, b[offHandleHWBacked])
	}
	return h, nil
}

// Marshal returns the HandleSize-byte wire form of h.
func (h *PasswordHandle) Marshal() []byte {
	b := make([]byte, HandleSize)
	b[offHandleVersion] = h.Version
	binary.LittleEndian.PutUint64(b[offHandleUserID:], h.UserID)
	binary.LittleEndian.PutUint64(b[offHandleFlags:], h.Flags)
	binary.LittleEndian.PutUint64(b[offHandleSalt:], h.Salt)
	copy(b[offHandleSignature:], h.Signature[:])
	if h.HardwareBacked {
		b[offHandleHWBacked] = 1
	}
	return b
}

// MarshalSigned returns the handle metadata the signature covers, the first
// 17 bytes of the wire form: version || user_id || flags (gatekeeper.cpp
// CreatePasswordHandle copies metadata_length bytes of the struct).
func (h *PasswordHandle) MarshalSigned() []byte {
	return h.Marshal()[:signedPrefixSize]
}
