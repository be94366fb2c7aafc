package proof

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/internal/cursor"
)

// Signed is a body with its SM2 signature, as the TA returns it:
//
//	u32 body_len ‖ body ‖ u16 sig_len ‖ signature (DER, 8..72 bytes)
//
// The signature is over body exactly (see package doc).
type Signed struct {
	Body      []byte
	Signature []byte
}

const minSignatureSize = 8 // SEQUENCE { INTEGER 1 byte, INTEGER 1 byte }

// Marshal returns the framed bytes of s, or ErrMalformed for an empty or
// over-long body or signature.
func (s Signed) Marshal() ([]byte, error) {
	if len(s.Body) == 0 || len(s.Body) > MaxBodySize {
		return nil, fmt.Errorf("%w: signed body of %d bytes", ErrMalformed, len(s.Body))
	}
	if len(s.Signature) < minSignatureSize || len(s.Signature) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(s.Signature))
	}
	b := make([]byte, 0, 6+len(s.Body)+len(s.Signature))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Body)))
	b = append(b, s.Body...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Signature)))
	return append(b, s.Signature...), nil
}

// ParseSigned splits framed bytes strictly (exact lengths, no trailing
// bytes). The returned slices are copies. It does not parse the body or
// check the signature.
func ParseSigned(b []byte) (Signed, error) {
	if len(b) > MaxSignedSize {
		return Signed{}, fmt.Errorf("%w: signed object of %d bytes", ErrMalformed, len(b))
	}
	r := cursor.New(b)
	n := r.U32()
	if r.Bad() || n == 0 || n > MaxBodySize {
		return Signed{}, fmt.Errorf("%w: signed body length %d", ErrMalformed, n)
	}
	body := r.Take(int(n))
	m := int(r.U16())
	if !r.Bad() && (m < minSignatureSize || m > MaxSignatureSize) {
		return Signed{}, fmt.Errorf("%w: signature length %d", ErrMalformed, m)
	}
	sig := r.Take(m)
	if !r.Done() {
		return Signed{}, fmt.Errorf("%w: signed object of %d bytes: truncated or trailing bytes", ErrMalformed, len(b))
	}
	return Signed{Body: append([]byte(nil), body...), Signature: append([]byte(nil), sig...)}, nil
}
