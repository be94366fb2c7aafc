// Package cursor is the strict read cursor of fpemu's fixed-layout binary
// codecs (bio/payment/proof, payserver/wire): big-endian integers, fixed
// fields and length-prefixed fields, read in order.
//
// A Reader never panics and never allocates more than the field asked for:
// a read past the end, a negative length or a length outside a field's
// bounds marks the cursor bad, and from then on every read yields zeros.
// A parser reads all its fields and checks Done once at the end, which
// keeps the rule that a strict parse returns no partial result
// (docs/architecture.md, "codecs are pure") in one place. Standard
// library only.
package cursor

import "encoding/binary"

// Reader reads b from the front. The zero value reads nothing; New starts
// a cursor over b. It keeps references into b: a field a parser keeps must
// be copied (string conversion copies).
type Reader struct {
	b   []byte
	bad bool
}

// New returns a Reader over b.
func New(b []byte) Reader { return Reader{b: b} }

// Fail marks the cursor bad: the parser found a field it refuses.
func (r *Reader) Fail() { r.bad = true }

// Bad reports whether a read ran short or a field was refused.
func (r *Reader) Bad() bool { return r.bad }

// Done reports whether everything was read without a refusal and nothing
// trails.
func (r *Reader) Done() bool { return !r.bad && len(r.b) == 0 }

// Take returns the next n bytes. On a short read, a negative n or a bad
// cursor it marks the cursor bad and returns n zero bytes (none for a
// negative n), so fixed-size copies need no check of their own.
func (r *Reader) Take(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 { return r.Take(1)[0] }

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 { return binary.BigEndian.Uint16(r.Take(2)) }

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 { return binary.BigEndian.Uint32(r.Take(4)) }

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 { return binary.BigEndian.Uint64(r.Take(8)) }

// Field8 reads a field prefixed by its u8 length, which must lie in
// minLen..maxLen; Field16 the same with a u16 length. Out of bounds, the
// cursor is marked bad and the field is nil. The field aliases the input.
func (r *Reader) Field8(minLen, maxLen int) []byte { return r.field(int(r.U8()), minLen, maxLen) }

// Field16 reads a field prefixed by its big-endian u16 length (Field8).
func (r *Reader) Field16(minLen, maxLen int) []byte {
	return r.field(int(r.U16()), minLen, maxLen)
}

func (r *Reader) field(n, minLen, maxLen int) []byte {
	if r.bad || n < minLen || n > maxLen {
		r.bad = true
		return nil
	}
	return r.Take(n)
}
