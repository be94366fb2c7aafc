package chanwire

import "encoding/binary"

// reader reads length-prefixed fields; the first error sticks.
type reader struct {
	msg string
	b   []byte
	err error
}

func (r *reader) fail(field string, err error, format string, a ...any) {
	if r.err == nil {
		r.err = ferr(r.msg, field, err, format, a...)
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(field, ErrTruncated, "need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) int {
	v := r.take(field, 1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16(field string) int {
	v := r.take(field, 2)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

func (r *reader) u32(field string) int {
	v := r.take(field, 4)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(v))
}

func (r *reader) u64(field string) uint64 {
	v := r.take(field, 8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// vec reads a field with a prefix of width 1, 2 or 4 bytes and checks
// min ≤ length ≤ max. The result is a copy.
func (r *reader) vec(field string, width, min, max int) []byte {
	var n int
	switch width {
	case 1:
		n = r.u8(field)
	case 2:
		n = r.u16(field)
	default:
		n = r.u32(field)
	}
	if r.err != nil {
		return nil
	}
	if n < min || n > max {
		r.fail(field, ErrLength, "length %d not in [%d, %d]", n, min, max)
		return nil
	}
	v := r.take(field, n)
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

func (r *reader) fixed(field string, dst []byte) {
	if v := r.take(field, len(dst)); v != nil {
		copy(dst, v)
	}
}

// done reports the first error, or ErrTrailing if bytes remain.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("", ErrTrailing, "%d bytes after the last field", len(r.b))
	}
	return r.err
}

// writer appends length-prefixed fields, checking bounds; the first error
// sticks.
type writer struct {
	msg string
	b   []byte
	err error
}

func (w *writer) vec(field string, width, min, max int, v []byte) {
	if w.err != nil {
		return
	}
	if len(v) < min || len(v) > max {
		w.err = ferr(w.msg, field, ErrLength, "length %d not in [%d, %d]", len(v), min, max)
		return
	}
	switch width {
	case 1:
		w.b = append(w.b, byte(len(v)))
	case 2:
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(v)))
	default:
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(v)))
	}
	w.b = append(w.b, v...)
}

func (w *writer) raw(v []byte) { w.b = append(w.b, v...) }

func (w *writer) u8(v uint8) { w.b = append(w.b, v) }

func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
