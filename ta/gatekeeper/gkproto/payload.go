package gkproto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxPasswordSize is the largest password, current or desired, the TA
// accepts. Android passes at most 64 bytes (VTS LongPassword: "maximum
// length used by Android"); the extra room is for vendors' own clients. A
// longer password is answered with ERROR_GENERAL_FAILURE, and Client
// rejects it with ErrPasswordTooLong before sending.
const MaxPasswordSize = 256

// ErrPayload is returned (wrapped) by the payload decoders for bytes that are
// not a well-formed payload.
var ErrPayload = errors.New("gatekeeper: malformed command payload")

// EnrollPayload is the MEMREF_INPUT payload of ENROLL: three length-prefixed
// byte strings, each a little-endian uint32 length followed by that many
// bytes, in this order and with nothing after them:
//
//	u32 len || current password handle   (len 0: no current handle, untrusted enroll)
//	u32 len || current password           (may be empty)
//	u32 len || desired password
//
// These are IGatekeeper.enroll's currentPasswordHandle, currentPassword and
// desiredPassword.
type EnrollPayload struct {
	CurrentHandle   []byte
	CurrentPassword []byte
	DesiredPassword []byte
}

// VerifyPayload is the MEMREF_INPUT payload of VERIFY, encoded like
// EnrollPayload:
//
//	u32 len || enrolled password handle
//	u32 len || provided password
//
// These are IGatekeeper.verify's enrolledPasswordHandle and providedPassword.
type VerifyPayload struct {
	Handle   []byte
	Password []byte
}

// Marshal returns the wire form of p.
func (p EnrollPayload) Marshal() []byte {
	return appendFields(nil, p.CurrentHandle, p.CurrentPassword, p.DesiredPassword)
}

// Marshal returns the wire form of p.
func (p VerifyPayload) Marshal() []byte {
	return appendFields(nil, p.Handle, p.Password)
}

// ParseEnrollPayload decodes an ENROLL payload strictly: every length must
// fit in what remains and no byte may follow the last field. The fields are
// copies (nil when empty); on error the result is the zero value.
func ParseEnrollPayload(b []byte) (EnrollPayload, error) {
	f, err := parseFields(b, 3)
	if err != nil {
		return EnrollPayload{}, fmt.Errorf("enroll: %w", err)
	}
	return EnrollPayload{CurrentHandle: f[0], CurrentPassword: f[1], DesiredPassword: f[2]}, nil
}

// ParseVerifyPayload decodes a VERIFY payload with the rules of
// ParseEnrollPayload.
func ParseVerifyPayload(b []byte) (VerifyPayload, error) {
	f, err := parseFields(b, 2)
	if err != nil {
		return VerifyPayload{}, fmt.Errorf("verify: %w", err)
	}
	return VerifyPayload{Handle: f[0], Password: f[1]}, nil
}

func appendFields(b []byte, fields ...[]byte) []byte {
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	if b == nil {
		b = make([]byte, 0, n)
	}
	for _, f := range fields {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func parseFields(b []byte, n int) ([][]byte, error) {
	out := make([][]byte, n)
	off := 0
	for i := range n {
		if len(b)-off < 4 {
			return nil, fmt.Errorf("%w: field %d: length prefix truncated at offset %d", ErrPayload, i, off)
		}
		l := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if uint64(l) > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: field %d: length %d exceeds the %d bytes left", ErrPayload, i, l, len(b)-off)
		}
		if l > 0 {
			out[i] = append([]byte(nil), b[off:off+int(l)]...)
		}
		off += int(l)
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrPayload, len(b)-off)
	}
	return out, nil
}
