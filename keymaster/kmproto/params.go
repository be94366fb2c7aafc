package kmproto

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/fpemu/fpemu/tokens"
)

// Limits of the key-parameter codec. A list or value beyond them is
// malformed, so a hostile CA cannot make the TA allocate without bound.
const (
	// MaxParams is the largest number of parameters in one list.
	MaxParams = 64
	// MaxBytesValue is the largest BYTES/BIGNUM value, in bytes.
	MaxBytesValue = 1024
)

// ErrMalformedParams is matched (errors.Is) by every error of the
// key-parameter codec. The TA answers it with KM_ERROR_INVALID_ARGUMENT
// for a request and KM_ERROR_INVALID_KEY_BLOB inside a blob.
var ErrMalformedParams = errors.New("keymaster: malformed key parameters")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedParams, fmt.Sprintf(format, args...))
}

// Param is one key parameter (keymaster_key_param_t). Int holds the value
// of the integer tag types (ENUM, UINT, ULONG, DATE and their repeatable
// forms; 32-bit types must fit in 32 bits); Bytes holds BYTES and BIGNUM
// values; a BOOL parameter has neither (its presence means true).
type Param struct {
	Tag   Tag
	Int   uint64
	Bytes []byte
}

// String formats the parameter for logs and test failures (values of the
// supported tags are not secret).
func (p Param) String() string {
	switch t := p.Tag.Type(); {
	case t == TypeBool:
		return p.Tag.String()
	case t.isBytes():
		return fmt.Sprintf("%s=[%d bytes]", p.Tag, len(p.Bytes))
	}
	return fmt.Sprintf("%s=%d", p.Tag, p.Int)
}

// Convenience constructors for the supported tags.

// AlgorithmParam is ALGORITHM = a.
func AlgorithmParam(a Algorithm) Param { return Param{Tag: TagAlgorithm, Int: uint64(a)} }

// ECCurveParam is EC_CURVE = c.
func ECCurveParam(c ECCurve) Param { return Param{Tag: TagECCurve, Int: uint64(c)} }

// KeySizeParam is KEY_SIZE = bits.
func KeySizeParam(bits uint32) Param { return Param{Tag: TagKeySize, Int: uint64(bits)} }

// PurposeParam is PURPOSE = p (repeatable).
func PurposeParam(p Purpose) Param { return Param{Tag: TagPurpose, Int: uint64(p)} }

// DigestParam is DIGEST = d (repeatable).
func DigestParam(d Digest) Param { return Param{Tag: TagDigest, Int: uint64(d)} }

// UserSecureIDParam is USER_SECURE_ID = sid (repeatable).
func UserSecureIDParam(sid uint64) Param { return Param{Tag: TagUserSecureID, Int: sid} }

// NoAuthRequiredParam is NO_AUTH_REQUIRED.
func NoAuthRequiredParam() Param { return Param{Tag: TagNoAuthRequired} }

// UserAuthTypeParam is USER_AUTH_TYPE = mask.
func UserAuthTypeParam(mask tokens.AuthenticatorType) Param {
	return Param{Tag: TagUserAuthType, Int: uint64(mask)}
}

// AuthTimeoutParam is AUTH_TIMEOUT = seconds.
func AuthTimeoutParam(seconds uint32) Param { return Param{Tag: TagAuthTimeout, Int: uint64(seconds)} }

// Params is a key-parameter list (keymaster_key_param_set_t,
// AuthorizationSet).
type Params []Param

// Get returns the first parameter with tag t.
func (ps Params) Get(t Tag) (Param, bool) {
	for _, p := range ps {
		if p.Tag == t {
			return p, true
		}
	}
	return Param{}, false
}

// Has reports whether a parameter with tag t is present.
func (ps Params) Has(t Tag) bool {
	_, ok := ps.Get(t)
	return ok
}

// Ints returns the integer values of every parameter with tag t, in order.
func (ps Params) Ints(t Tag) []uint64 {
	var out []uint64
	for _, p := range ps {
		if p.Tag == t {
			out = append(out, p.Int)
		}
	}
	return out
}

func (p *Param) check() error {
	t := p.Tag.Type()
	if !t.Valid() {
		return malformed("tag 0x%08X has invalid type", uint32(p.Tag))
	}
	switch {
	case t == TypeBool:
		if p.Int != 0 || p.Bytes != nil {
			return malformed("BOOL tag %s carries a value", p.Tag)
		}
	case t.isBytes():
		if p.Int != 0 {
			return malformed("bytes tag %s carries an integer", p.Tag)
		}
		if len(p.Bytes) > MaxBytesValue {
			return malformed("tag %s value is %d bytes, max %d", p.Tag, len(p.Bytes), MaxBytesValue)
		}
	default:
		if p.Bytes != nil {
			return malformed("integer tag %s carries bytes", p.Tag)
		}
		if t.valueSize() == 4 && p.Int > math.MaxUint32 {
			return malformed("32-bit tag %s value %d overflows", p.Tag, p.Int)
		}
	}
	return nil
}

func compareParams(a, b Param) int {
	if c := cmp.Compare(a.Tag, b.Tag); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Int, b.Int); c != 0 {
		return c
	}
	return bytes.Compare(a.Bytes, b.Bytes)
}

// canonical returns a sorted copy of ps after checking every parameter, the
// list length, that non-repeatable tags appear once and that no parameter
// appears twice.
func (ps Params) canonical() (Params, error) {
	if len(ps) > MaxParams {
		return nil, malformed("%d parameters, max %d", len(ps), MaxParams)
	}
	out := slices.Clone(ps)
	for i := range out {
		if err := out[i].check(); err != nil {
			return nil, err
		}
		if out[i].Tag.Type().isBytes() && out[i].Bytes == nil {
			out[i].Bytes = []byte{} // one spelling of "empty", so lists compare equal
		}
	}
	slices.SortStableFunc(out, compareParams)
	for i := 1; i < len(out); i++ {
		if out[i].Tag != out[i-1].Tag {
			continue
		}
		if !out[i].Tag.Repeatable() {
			return nil, malformed("non-repeatable tag %s appears twice", out[i].Tag)
		}
		if compareParams(out[i], out[i-1]) == 0 {
			return nil, malformed("parameter %s appears twice", out[i])
		}
	}
	return out, nil
}

// Marshal encodes ps in canonical form: the parameters sorted by tag, then
// value. The encoding (big-endian, like every fpemu wire format; see
// docs/protocol.md) is
//
//	list  = count:u32 param{count}
//	param = tag:u32 value
//	value = u32                       ENUM, ENUM_REP, UINT, UINT_REP
//	      | u64                       ULONG, ULONG_REP, DATE
//	      | (nothing)                 BOOL (present = true)
//	      | len:u32 byte{len}         BYTES, BIGNUM (len ≤ MaxBytesValue)
//
// Two lists with the same parameters in any order marshal to the same
// bytes, which is why a key blob can bind them as associated data.
func (ps Params) Marshal() ([]byte, error) {
	c, err := ps.canonical()
	if err != nil {
		return nil, err
	}
	size := 4
	for _, p := range c {
		size += 4
		if n := p.Tag.Type().valueSize(); n >= 0 {
			size += n
		} else {
			size += 4 + len(p.Bytes)
		}
	}
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
	for _, p := range c {
		b = binary.BigEndian.AppendUint32(b, uint32(p.Tag))
		switch n := p.Tag.Type().valueSize(); n {
		case 4:
			b = binary.BigEndian.AppendUint32(b, uint32(p.Int))
		case 8:
			b = binary.BigEndian.AppendUint64(b, p.Int)
		case 0:
		default:
			b = binary.BigEndian.AppendUint32(b, uint32(len(p.Bytes)))
			b = append(b, p.Bytes...)
		}
	}
	return b, nil
}

// ParseParams decodes a key-parameter list (see Marshal for the format).
// It accepts the parameters in any order and returns them in canonical
// order. It is strict: a short or over-long input, trailing bytes, a tag of
// INVALID or unknown type, a 32-bit value given for a 64-bit tag or vice
// versa (impossible by construction: the width follows the tag), more than
// MaxParams parameters, a bytes value longer than MaxBytesValue, a
// non-repeatable tag twice or a duplicate parameter are all errors matching
// ErrMalformedParams; on error it returns nil. Byte values are copied.
func ParseParams(b []byte) (Params, error) {
	if len(b) < 4 {
		return nil, malformed("%d bytes, need at least 4", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxParams {
		return nil, malformed("count %d exceeds %d", n, MaxParams)
	}
	off := 4
	// Every parameter takes at least its 4-byte tag.
	if uint64(n)*4 > uint64(len(b)-off) {
		return nil, malformed("count %d does not fit in %d bytes", n, len(b))
	}
	ps := make(Params, 0, n)
	for i := uint32(0); i < n; i++ {
		if len(b)-off < 4 {
			return nil, malformed("parameter %d: truncated tag at offset %d", i, off)
		}
		p := Param{Tag: Tag(binary.BigEndian.Uint32(b[off:]))}
		off += 4
		t := p.Tag.Type()
		if !t.Valid() {
			return nil, malformed("parameter %d: tag 0x%08X has invalid type", i, uint32(p.Tag))
		}
		switch sz := t.valueSize(); sz {
		case 4, 8:
			if len(b)-off < sz {
				return nil, malformed("parameter %d (%s): truncated value at offset %d", i, p.Tag, off)
			}
			if sz == 4 {
				p.Int = uint64(binary.BigEndian.Uint32(b[off:]))
			} else {
				p.Int = binary.BigEndian.Uint64(b[off:])
			}
			off += sz
		case 0:
		default:
			if len(b)-off < 4 {
				return nil, malformed("parameter %d (%s): truncated length at offset %d", i, p.Tag, off)
			}
			l := binary.BigEndian.Uint32(b[off:])
			off += 4
			if l > MaxBytesValue {
				return nil, malformed("parameter %d (%s): %d bytes, max %d", i, p.Tag, l, MaxBytesValue)
			}
			if uint64(len(b)-off) < uint64(l) {
				return nil, malformed("parameter %d (%s): truncated %d-byte value at offset %d", i, p.Tag, l, off)
			}
			p.Bytes = bytes.Clone(b[off : off+int(l)])
			if p.Bytes == nil {
				p.Bytes = []byte{}
			}
			off += int(l)
		}
		ps = append(ps, p)
	}
	if off != len(b) {
		return nil, malformed("%d trailing bytes", len(b)-off)
	}
	c, err := ps.canonical()
	if err != nil {
		return nil, err
	}
	return c, nil
}
