package store

import (
	"encoding/binary"

	"github.com/fpemu/fpemu/tee"
)

// Part is one typed component of a row identity. Build parts with Str, Raw,
// U32, U64, I64 and TA, and join them with Identity.
type Part struct {
	tag   byte
	value []byte
}

// Part tags of the identity encoding.
const (
	tagString byte = 0x01
	tagBytes  byte = 0x02
	tagUint   byte = 0x03
	tagInt    byte = 0x04
	tagUUID   byte = 0x05
)

// Str is a text part, typically a field name ("group", "finger").
func Str(s string) Part { return Part{tag: tagString, value: []byte(s)} }

// Raw is a byte-string part (a key id, a hash).
func Raw(b []byte) Part { return Part{tag: tagBytes, value: append([]byte(nil), b...)} }

// U64 is an unsigned integer part.
func U64(v uint64) Part {
	return Part{tag: tagUint, value: binary.BigEndian.AppendUint64(nil, v)}
}

// U32 is an unsigned integer part. It encodes exactly as U64(uint64(v)):
// the identity names a number, not a Go type, so U32(7) and U64(7) are the
// same identity.
func U32(v uint32) Part { return U64(uint64(v)) }

// I64 is a signed integer part (two's complement). It is distinct from
// every U64 part, even for non-negative values.
func I64(v int64) Part {
	return Part{tag: tagInt, value: binary.BigEndian.AppendUint64(nil, uint64(v))}
}

// TA is a trusted-application UUID part.
func TA(u tee.UUID) Part { return Part{tag: tagUUID, value: append([]byte(nil), u[:]...)} }

// Identity returns the canonical identity bytes of a row: the associated
// data that binds a sealed value to the row it belongs to, e.g.
//
//	store.Identity(store.Str("group"), store.U32(gid), store.Str("finger"), store.U32(fid))
//
// Each part is encoded as tag(1) ‖ u32be(len) ‖ value, so the encoding is
// injective: two different part lists never produce the same bytes (no
// "ab"+"c" = "a"+"bc" collisions, no string/number confusion).
func Identity(parts ...Part) []byte {
	n := 0
	for _, p := range parts {
		n += 5 + len(p.value)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p.tag)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.value)))
		b = append(b, p.value...)
	}
	return b
}
