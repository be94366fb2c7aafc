package cursor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(r *Reader) any
		want any
		done bool
		bad  bool
	}{
		{"u8", []byte{7}, func(r *Reader) any { return r.U8() }, uint8(7), true, false},
		{"u16", []byte{1, 2}, func(r *Reader) any { return r.U16() }, uint16(0x0102), true, false},
		{"u32", []byte{1, 2, 3, 4}, func(r *Reader) any { return r.U32() }, uint32(0x01020304), true, false},
		{"u64", []byte{0, 0, 0, 0, 0, 0, 1, 0}, func(r *Reader) any { return r.U64() }, uint64(256), true, false},
		{"short u32 is zero and bad", []byte{1, 2}, func(r *Reader) any { return r.U32() }, uint32(0), false, true},
		{"trailing byte", []byte{1, 2}, func(r *Reader) any { return r.U8() }, uint8(1), false, false},
		{"negative take", []byte{1}, func(r *Reader) any { return r.Take(-1) }, []byte{}, false, true},
		{"field8", []byte{2, 'a', 'b'}, func(r *Reader) any { return string(r.Field8(1, 2)) }, "ab", true, false},
		{"field8 over max", []byte{3, 'a', 'b', 'c'}, func(r *Reader) any { return r.Field8(0, 2) }, []byte(nil), false, true},
		{"field16 under min", []byte{0, 0}, func(r *Reader) any { return r.Field16(1, 9) }, []byte(nil), false, true},
		{"field16 short", []byte{0, 4, 'a'}, func(r *Reader) any { return r.Field16(0, 9) }, []byte{0, 0, 0, 0}, false, true},
		{"bad stays bad", []byte{1}, func(r *Reader) any { r.Fail(); return r.U8() }, uint8(0), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.in)
			assert.Equal(t, tt.want, tt.read(&r))
			assert.Equal(t, tt.done, r.Done())
			assert.Equal(t, tt.bad, r.Bad())
		})
	}
}

// FuzzReader: no input or length makes the cursor panic, and a bad cursor
// never reports Done.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c', 1}, 0, 8)
	f.Add([]byte{}, 1, 1)
	f.Add([]byte{0xff, 0xff}, -1, 70000)
	f.Fuzz(func(t *testing.T, b []byte, minLen, maxLen int) {
		r := New(b)
		_ = r.Field16(minLen, maxLen)
		_ = r.Field8(minLen, maxLen)
		_ = r.U64()
		_ = r.Take(minLen)
		if r.Bad() {
			assert.False(t, r.Done())
		}
	})
}
