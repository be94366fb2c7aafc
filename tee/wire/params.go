package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// Layout says which parameter data a parameter block carries. The four
// TEEC parameters travel in both directions but only the data that moves in
// a direction is on the wire (docs/protocol.md "Parameter block"), the way
// TEEC_InvokeCommand copies inputs to the TA and outputs back (GPD_SPE_007,
// TEEC_Value and TEEC_TempMemoryReference).
type Layout uint8

// Parameter block layouts.
const (
	// LayoutRequest is a CA→TA block: VALUE_INPUT/INOUT carry a and b;
	// MEMREF_INPUT carries size and size bytes; MEMREF_OUTPUT carries only
	// its capacity; MEMREF_INOUT carries capacity, length and length bytes.
	LayoutRequest Layout = 1
	// LayoutResponse is a TA→CA block of a TEEC_SUCCESS response:
	// VALUE_OUTPUT/INOUT carry a and b; MEMREF_OUTPUT/INOUT carry size and
	// size bytes.
	LayoutResponse Layout = 2
	// LayoutResponseNoData is a TA→CA block of any other response:
	// VALUE_OUTPUT/INOUT carry a and b; MEMREF_OUTPUT/INOUT carry only a
	// size (with TEEC_ERROR_SHORT_BUFFER, the size the TA needs).
	LayoutResponseNoData Layout = 3
)

// ResponseLayout returns the layout of a response's parameter block:
// LayoutResponse for TEEC_SUCCESS, LayoutResponseNoData otherwise.
func ResponseLayout(r tee.Result) Layout {
	if r == tee.Success {
		return LayoutResponse
	}
	return LayoutResponseNoData
}

func (l Layout) String() string {
	switch l {
	case LayoutRequest:
		return "request"
	case LayoutResponse:
		return "response"
	case LayoutResponseNoData:
		return "response-no-data"
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// paramTypesLen is the size of the four type bytes that open a block.
const paramTypesLen = 4

// wireForm is what one parameter puts on the wire in a layout.
type wireForm uint8

const (
	formNothing  wireForm = iota // no bytes
	formValue                    // u32 a, u32 b
	formSize                     // u32 size
	formSizeData                 // u32 size, size bytes
	formCapData                  // u32 capacity, u32 length, length bytes
)

func formOf(t tee.ParamType, l Layout) wireForm {
	switch l {
	case LayoutRequest:
		switch t {
		case tee.ParamValueInput, tee.ParamValueInout:
			return formValue
		case tee.ParamMemrefInput:
			return formSizeData
		case tee.ParamMemrefOutput:
			return formSize
		case tee.ParamMemrefInout:
			return formCapData
		}
	case LayoutResponse, LayoutResponseNoData:
		switch t {
		case tee.ParamValueOutput, tee.ParamValueInout:
			return formValue
		case tee.ParamMemrefOutput, tee.ParamMemrefInout:
			if l == LayoutResponse {
				return formSizeData
			}
			return formSize
		}
	}
	return formNothing
}

// paramsLen returns the encoded size of p in layout l, checking everything
// AppendParams would otherwise have to reject.
func paramsLen(p *tee.Params, l Layout) (int, error) {
	if l < LayoutRequest || l > LayoutResponseNoData {
		return 0, formatErr(ErrUnknownParamType, -1, "unknown layout %v", l)
	}
	n := paramTypesLen
	for i := range p {
		t := p[i].Type
		if !t.Valid() {
			return 0, formatErr(ErrUnknownParamType, -1, "param %d: %v", i, t)
		}
		switch formOf(t, l) {
		case formValue:
			n += 8
		case formSize:
			n += 4
		case formSizeData:
			if len(p[i].Data) > MaxFrameLen {
				return 0, formatErr(ErrFrameLength, -1, "param %d: %d bytes exceed a frame", i, len(p[i].Data))
			}
			n += 4 + len(p[i].Data)
		case formCapData:
			if len(p[i].Data) > MaxFrameLen {
				return 0, formatErr(ErrFrameLength, -1, "param %d: %d bytes exceed a frame", i, len(p[i].Data))
			}
			if uint64(len(p[i].Data)) > uint64(p[i].Size) {
				return 0, formatErr(ErrMemrefSize, -1, "param %d: inout length %d exceeds capacity %d", i, len(p[i].Data), p[i].Size)
			}
			n += 8 + len(p[i].Data)
		}
	}
	return n, nil
}

// appendParams writes a block already validated by paramsLen.
func appendParams(dst []byte, p *tee.Params, l Layout) []byte {
	for i := range p {
		dst = append(dst, byte(p[i].Type))
	}
	for i := range p {
		q := &p[i]
		switch formOf(q.Type, l) {
		case formValue:
			dst = binary.BigEndian.AppendUint32(dst, q.A)
			dst = binary.BigEndian.AppendUint32(dst, q.B)
		case formSize:
			dst = binary.BigEndian.AppendUint32(dst, q.Size)
		case formSizeData:
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(q.Data)))
			dst = append(dst, q.Data...)
		case formCapData:
			dst = binary.BigEndian.AppendUint32(dst, q.Size)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(q.Data)))
			dst = append(dst, q.Data...)
		}
	}
	return dst
}

// AppendParams appends the encoding of p in layout l to dst. Fields a
// layout does not carry are ignored (for example the A and B of a
// VALUE_OUTPUT in a request, or the Size of a MEMREF_INPUT, which is always
// len(Data)). It fails with a *FormatError for an unknown parameter type or
// an INOUT memref whose data exceeds its capacity, and then dst is returned
// unchanged.
func AppendParams(dst []byte, p *tee.Params, l Layout) ([]byte, error) {
	if _, err := paramsLen(p, l); err != nil {
		return dst, err
	}
	return appendParams(dst, p, l), nil
}

// DecodeParams decodes a parameter block that must span b exactly.
func DecodeParams(b []byte, l Layout) (tee.Params, error) {
	d := decoder{b: b}
	p, err := d.params(l)
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return tee.Params{}, err
	}
	return p, nil
}

// decoder reads big-endian fields from b, tracking the offset for errors.
// With inArena, memref bytes are appended to arena (whose capacity the
// caller made large enough) instead of copied into new slices.
type decoder struct {
	b       []byte
	off     int
	arena   []byte
	inArena bool
}

func (d *decoder) need(n int, what string) error {
	if len(d.b)-d.off < n {
		return formatErr(ErrTruncated, d.off, "%s needs %d bytes, %d left", what, n, len(d.b)-d.off)
	}
	return nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

// pair reads two consecutive u32 fields, named a and b in errors.
func (d *decoder) pair(a, b string) (uint32, uint32, error) {
	x, err := d.u32(a)
	if err != nil {
		return 0, 0, err
	}
	y, err := d.u32(b)
	if err != nil {
		return 0, 0, err
	}
	return x, y, nil
}

// bytes copies n bytes out of the input, so the result does not alias it:
// into a new slice, or the arena's next n bytes (capacity capped at them).
// A zero length yields nil.
func (d *decoder) bytes(n uint32, what string) ([]byte, error) {
	if uint64(n) > uint64(len(d.b)-d.off) {
		return nil, formatErr(ErrTruncated, d.off, "%s of %d bytes, %d left", what, n, len(d.b)-d.off)
	}
	if n == 0 {
		return nil, nil
	}
	if d.inArena {
		start := len(d.arena)
		d.arena = append(d.arena, d.b[d.off:d.off+int(n)]...)
		d.off += int(n)
		return d.arena[start:len(d.arena):len(d.arena)], nil
	}
	// append to nil copies without first zeroing the new memory.
	out := append([]byte(nil), d.b[d.off:d.off+int(n)]...)
	d.off += int(n)
	return out, nil
}

func (d *decoder) finish() error {
	if d.off != len(d.b) {
		return formatErr(ErrTrailingBytes, d.off, "%d bytes after the last field", len(d.b)-d.off)
	}
	return nil
}

func (d *decoder) params(l Layout) (tee.Params, error) {
	var p tee.Params
	err := d.paramsInto(&p, l)
	if err != nil {
		return tee.Params{}, err
	}
	return p, nil
}

// paramsInto decodes a parameter block into *p, which must be zero.
func (d *decoder) paramsInto(p *tee.Params, l Layout) error {
	if l < LayoutRequest || l > LayoutResponseNoData {
		return formatErr(ErrUnknownParamType, d.off, "unknown layout %v", l)
	}
	if err := d.need(paramTypesLen, "parameter types"); err != nil {
		return err
	}
	for i := range p {
		t := tee.ParamType(d.b[d.off+i])
		if !t.Valid() {
			return formatErr(ErrUnknownParamType, d.off+i, "param %d: %v", i, t)
		}
		p[i].Type = t
	}
	d.off += paramTypesLen
	for i := range p {
		q := &p[i]
		var err error
		switch formOf(q.Type, l) {
		case formValue:
			q.A, q.B, err = d.pair("value a", "value b")
		case formSize:
			q.Size, err = d.u32("memref size")
		case formSizeData:
			if q.Size, err = d.u32("memref size"); err == nil {
				q.Data, err = d.bytes(q.Size, "memref data")
			}
		case formCapData:
			var n uint32
			q.Size, n, err = d.pair("memref capacity", "memref length")
			if err == nil && n > q.Size {
				err = formatErr(ErrMemrefSize, d.off-4, "length %d exceeds capacity %d", n, q.Size)
			}
			if err == nil {
				q.Data, err = d.bytes(n, "memref data")
			}
		}
		if err != nil {
			if fe, ok := err.(*FormatError); ok {
				fe.Detail = fmt.Sprintf("param %d (%v): %s", i, q.Type, fe.Detail)
			}
			return err
		}
	}
	return nil
}
