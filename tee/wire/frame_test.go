package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// requireFormatErr checks the contract of every decoding failure: a
// *FormatError matching kind and tee.ErrBadFormat.
func requireFormatErr(t *testing.T, err, kind error) {
	t.Helper()
	require.Error(t, err)
	var fe *FormatError
	require.ErrorAs(t, err, &fe)
	require.ErrorIs(t, err, kind)
	require.ErrorIs(t, err, tee.ErrBadFormat)
	require.Equal(t, tee.ResultBadFormat, tee.ResultOf(err))
}

// withLen returns b with its length prefix rewritten to len(b)-4.
func withLen(b []byte) []byte {
	out := bytes.Clone(b)
	binary.BigEndian.PutUint32(out, uint32(len(out)-LengthLen))
	return out
}

func patch(b []byte, off int, v ...byte) []byte {
	out := bytes.Clone(b)
	copy(out[off:], v)
	return out
}

func TestDecodeFrameRejects(t *testing.T) {
	open := mustHex(t, "open_session_request.hex")
	invoke := mustHex(t, "invoke_request.hex")
	resp := mustHex(t, "invoke_response.hex")
	closeReq := mustHex(t, "close_session_request.hex")

	// Offsets in invoke_request.hex: header 0..11, session 12, command 16,
	// types 20..23, p0 24..31, p1 size 32, "abc" 36..38, p2 cap 39,
	// p3 cap 43, p3 len 47, "xy" 51..52.
	cases := []struct {
		name string
		in   []byte
		kind error
	}{
		{"empty", nil, ErrTruncated},
		{"short prefix", []byte{0, 0, 0}, ErrTruncated},
		{"length below header", withLen(open[:8]), ErrFrameLength},
		{"length zero", []byte{0, 0, 0, 0}, ErrFrameLength},
		{"length above max", binary.BigEndian.AppendUint32(nil, MaxFrameLen+1), ErrFrameLength},
		{"length says more than supplied", open[:len(open)-1], ErrFrameLength},
		{"length says less than supplied", append(bytes.Clone(open), 0), ErrFrameLength},
		{"version 0", patch(open, 4, 0), ErrVersion},
		{"version 1 (before connection_data)", patch(open, 4, 1), ErrVersion},
		{"version 3", patch(open, 4, 3), ErrVersion},
		{"unknown op 0", patch(open, 5, 0), ErrUnknownOp},
		{"unknown op 4", patch(open, 5, 4), ErrUnknownOp},
		{"unknown op 0x81", patch(open, 5, 0x81), ErrUnknownOp},
		{"reserved high", patch(open, 6, 1), ErrReserved},
		{"reserved low", patch(open, 7, 0x80), ErrReserved},
		{"open trailing byte", withLen(append(bytes.Clone(open), 0)), ErrTrailingBytes},
		{"open missing types", withLen(open[:len(open)-4]), ErrTruncated},
		{"open missing connection_data", withLen(open[:32]), ErrTruncated},
		{"close trailing param types", withLen(append(bytes.Clone(closeReq), 0, 0, 0, 0)), ErrTrailingBytes},
		{"param type 4", patch(invoke, 20, 4), ErrUnknownParamType},
		{"param type 8", patch(invoke, 21, 8), ErrUnknownParamType},
		{"registered memref whole 0xC", patch(invoke, 22, 0x0C), ErrUnknownParamType},
		{"registered memref partial inout 0xF", patch(invoke, 23, 0x0F), ErrUnknownParamType},
		{"param type 0xFF", patch(invoke, 23, 0xFF), ErrUnknownParamType},
		{"memref size beyond frame", patch(invoke, 32, 0, 0, 0, 0x40), ErrTruncated},
		{"memref size 2^32-1", patch(invoke, 32, 0xFF, 0xFF, 0xFF, 0xFF), ErrTruncated},
		{"inout length above capacity", patch(invoke, 43, 0, 0, 0, 1), ErrMemrefSize},
		{"invoke trailing byte", withLen(append(bytes.Clone(invoke), 0xAA)), ErrTrailingBytes},
		{"response origin 0", patch(resp, 16, 0, 0, 0, 0), ErrOrigin},
		{"response origin 5", patch(resp, 16, 0, 0, 0, 5), ErrOrigin},
		{"response memref size beyond frame", patch(resp, 28, 0, 0, 1, 0), ErrTruncated},
		{"response types changed to no-data layout", patch(resp, 12, 0xFF, 0xFF, 0, 0x10), ErrTrailingBytes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.in)
			f, err := DecodeFrame(in)
			requireFormatErr(t, err, c.kind)
			require.Zero(t, f, "no partial result")
			require.Equal(t, c.in, in, "input not modified")
		})
	}
}

// TestDecodeFrameEveryTruncation cuts every golden frame at every length,
// with the length prefix fixed up so the cut is seen inside the body: each
// must fail as BAD_FORMAT with a zero frame, and never panic.
func TestDecodeFrameEveryTruncation(t *testing.T) {
	for _, g := range goldenFrames {
		raw := mustHex(t, g.file)
		for n := 0; n < len(raw); n++ {
			cut := raw[:n]
			if n >= LengthLen {
				cut = withLen(cut)
			}
			f, err := DecodeFrame(cut)
			require.Error(t, err, "%s cut at %d", g.file, n)
			require.ErrorIs(t, err, tee.ErrBadFormat)
			require.Zero(t, f)
		}
	}
}

func TestDecodeFrameOwnsBytes(t *testing.T) {
	raw := mustHex(t, "invoke_request.hex")
	f, err := DecodeFrame(raw)
	require.NoError(t, err)
	for i := range raw {
		raw[i] = 0xEE
	}
	assert.Equal(t, []byte("abc"), f.Params[1].Data)
	assert.Equal(t, []byte("xy"), f.Params[3].Data)
}

func TestAppendFrameRejects(t *testing.T) {
	big := make([]byte, MaxFrameLen)
	cases := []struct {
		name string
		f    Frame
		kind error
	}{
		{"unknown op", Frame{Op: 0x42}, ErrUnknownOp},
		{"response origin 0", Frame{Op: OpResponse}, ErrOrigin},
		{"response origin 9", Frame{Op: OpResponse, Origin: 9}, ErrOrigin},
		{"unknown param type", Frame{Op: OpInvoke, Params: tee.Params{{Type: 4}}}, ErrUnknownParamType},
		{"inout longer than capacity", Frame{Op: OpInvoke, Params: tee.Params{
			{Type: tee.ParamMemrefInout, Data: []byte("abcd"), Size: 3},
		}}, ErrMemrefSize},
		{"frame above max", Frame{Op: OpInvoke, Params: tee.Params{tee.MemrefIn(big)}}, ErrFrameLength},
		{"memref above max", Frame{Op: OpInvoke, Params: tee.Params{tee.MemrefIn(append(big, 0))}}, ErrFrameLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte{0xAB}
			out, err := AppendFrame(dst, &c.f)
			require.Error(t, err)
			require.ErrorIs(t, err, c.kind)
			require.ErrorIs(t, err, tee.ErrBadFormat)
			require.Equal(t, []byte{0xAB}, out, "dst unchanged on error")
		})
	}
}

// TestAppendFrameLargest encodes and decodes a frame of exactly
// MaxFrameLen bytes after the prefix.
func TestAppendFrameLargest(t *testing.T) {
	// INVOKE: 8 header + 8 session/command + 4 types + 4 size = 24.
	data := make([]byte, MaxFrameLen-24)
	f := Frame{Op: OpInvoke, RequestID: 7, Session: 1, Params: tee.Params{tee.MemrefIn(data)}}
	b, err := AppendFrame(nil, &f)
	require.NoError(t, err)
	require.Len(t, b, LengthLen+MaxFrameLen)
	got, err := DecodeFrame(b)
	require.NoError(t, err)
	require.Len(t, got.Params[0].Data, len(data))
}

// TestAppendFrameIgnoresFieldsNotCarried: fields an op does not carry are
// dropped by the encoder, so decode(encode(f)) is f with them zeroed.
func TestAppendFrameIgnoresFieldsNotCarried(t *testing.T) {
	f := Frame{
		Op: OpCloseSession, RequestID: 5, Session: 2,
		UUID: tee.UUIDGatekeeper, Login: 3, ConnData: 9, Command: 4, Result: tee.ResultGeneric, Origin: tee.OriginTEE,
		Params: tee.Params{tee.Value(1, 2)},
	}
	b, err := AppendFrame(nil, &f)
	require.NoError(t, err)
	got, err := DecodeFrame(b)
	require.NoError(t, err)
	require.Equal(t, Frame{Op: OpCloseSession, RequestID: 5, Session: 2}, got)

	inv := Frame{Op: OpInvoke, Session: 1, Command: 2, Params: tee.Params{
		{Type: tee.ParamValueOutput, A: 1, B: 2},                   // outputs carry nothing in a request
		{Type: tee.ParamMemrefOutput, Data: []byte("x"), Size: 9},  // only the capacity travels
		{Type: tee.ParamMemrefInput, Data: []byte("in"), Size: 99}, // size is len(Data)
	}}
	b, err = AppendFrame(nil, &inv)
	require.NoError(t, err)
	got, err = DecodeFrame(b)
	require.NoError(t, err)
	require.Equal(t, tee.Params{
		{Type: tee.ParamValueOutput},
		{Type: tee.ParamMemrefOutput, Size: 9},
		{Type: tee.ParamMemrefInput, Data: []byte("in"), Size: 2},
	}, got.Params)
}

func TestFrameLen(t *testing.T) {
	cases := []struct {
		in   []byte
		want int
		kind error
	}{
		{[]byte{0, 0, 0, 8}, 12, nil},
		{[]byte{0, 0x10, 0, 0, 0xFF}, LengthLen + MaxFrameLen, nil},
		{[]byte{0, 0, 0, 7}, 0, ErrFrameLength},
		{[]byte{0, 0x10, 0, 1}, 0, ErrFrameLength},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF}, 0, ErrFrameLength},
		{[]byte{0, 0}, 0, ErrTruncated},
	}
	for _, c := range cases {
		n, err := FrameLen(c.in)
		if c.kind != nil {
			requireFormatErr(t, err, c.kind)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, c.want, n)
	}
}

func TestRequestIDOfMalformedFrame(t *testing.T) {
	open := mustHex(t, "open_session_request.hex")
	bad := patch(open, 4, 9) // wrong version, but the id is readable
	_, err := DecodeFrame(bad)
	require.True(t, errors.Is(err, ErrVersion))
	id, ok := RequestID(bad)
	require.True(t, ok)
	require.Equal(t, uint32(1), id)

	_, ok = RequestID(open[:len(open)-1])
	require.False(t, ok, "inconsistent length: id not trusted")
	_, ok = RequestID([]byte{0, 0, 0, 4, 1, 1, 0, 0})
	require.False(t, ok, "length below header")
}

func TestOpString(t *testing.T) {
	assert.Equal(t, "OPEN_SESSION", OpOpenSession.String())
	assert.Equal(t, "INVOKE", OpInvoke.String())
	assert.Equal(t, "CLOSE_SESSION", OpCloseSession.String())
	assert.Equal(t, "RESPONSE", OpResponse.String())
	assert.Equal(t, "op(0x42)", Op(0x42).String())
}

// TestDecodeFrameIntoArena: the memrefs of a frame decoded into an arena
// are consecutive sub-slices of it, each with its capacity ending at its
// own last byte (appending to one never overwrites the next), and the
// arena can be reused for the next frame.
func TestDecodeFrameIntoArena(t *testing.T) {
	req := Frame{Op: OpInvoke, RequestID: 5, Session: 1, Command: 2, Params: tee.Params{
		tee.MemrefIn([]byte("first")), tee.MemrefInout([]byte("second"), 10), tee.MemrefOut(4), tee.Value(1, 2),
	}}
	raw, err := AppendFrame(nil, &req)
	require.NoError(t, err)

	arena := make([]byte, 0, 64)
	var f Frame
	arena, err = DecodeFrameInto(&f, raw, arena)
	require.NoError(t, err)
	require.Equal(t, req, f)
	assert.Equal(t, "firstsecond", string(arena))
	assert.Equal(t, 64, cap(arena), "no growth when the arena has room")
	for i, want := range []int{5, 6} {
		assert.Equal(t, want, cap(f.Params[i].Data), "param %d: capacity ends at its last byte", i)
	}
	f.Params[0].Data = append(f.Params[0].Data, 'X')
	assert.Equal(t, "second", string(f.Params[1].Data), "appending to one memref leaves the next alone")

	// The arena reused from its start: the old frame's memrefs now see
	// the new bytes, which is why a host reuses it only after answering.
	resp := Frame{Op: OpResponse, RequestID: 5, Origin: tee.OriginTrustedApp, Session: 1, Params: tee.Params{
		tee.MemrefOut(0), {Type: tee.ParamMemrefOutput, Data: []byte("out")},
	}}
	raw2, err := AppendFrame(nil, &resp)
	require.NoError(t, err)
	var g Frame
	arena, err = DecodeFrameInto(&g, raw2, arena[:0])
	require.NoError(t, err)
	assert.Equal(t, "out", string(g.Params[1].Data))
	assert.Equal(t, "out", string(arena))

	// Errors: the zero Frame, the arena's length unchanged.
	for _, tc := range []struct {
		name string
		in   []byte
		kind error
	}{
		{"truncated", raw[:len(raw)-1], ErrFrameLength},
		{"short prefix", raw[:3], ErrTruncated},
		{"version", append([]byte{0, 0, 0, 8, 9}, raw[5:12]...), ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Frame{Command: 99}
			out, err := DecodeFrameInto(&h, tc.in, []byte("keep"))
			require.ErrorIs(t, err, tc.kind)
			require.ErrorIs(t, err, tee.ErrBadFormat)
			assert.Equal(t, Frame{}, h)
			assert.Equal(t, "keep", string(out))
		})
	}
}
