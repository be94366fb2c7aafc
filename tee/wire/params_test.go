package wire

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestParamsLayouts pins the encoding of every parameter type in every
// layout (docs/protocol.md "Parameter block").
func TestParamsLayouts(t *testing.T) {
	cases := []struct {
		name   string
		layout Layout
		p      tee.Params
		hex    string
	}{
		{"none", LayoutRequest, tee.Params{}, "00000000"},
		{"request value input", LayoutRequest,
			tee.Params{tee.Value(1, 0xFFFFFFFF)},
			"01000000" + "00000001ffffffff"},
		{"request value output carries nothing", LayoutRequest,
			tee.Params{{Type: tee.ParamValueOutput}},
			"02000000"},
		{"request value inout", LayoutRequest,
			tee.Params{{}, tee.ValueInout(2, 3)},
			"00030000" + "0000000200000003"},
		{"request memref input", LayoutRequest,
			tee.Params{{}, {}, {}, {Type: tee.ParamMemrefInput, Data: []byte{0xDE, 0xAD}, Size: 2}},
			"00000005" + "00000002dead"},
		{"request empty memref input", LayoutRequest,
			tee.Params{{Type: tee.ParamMemrefInput}},
			"05000000" + "00000000"},
		{"request memref output capacity", LayoutRequest,
			tee.Params{tee.MemrefOut(0x100)},
			"06000000" + "00000100"},
		{"request memref inout", LayoutRequest,
			tee.Params{{Type: tee.ParamMemrefInout, Data: []byte{1}, Size: 4}},
			"07000000" + "00000004" + "00000001" + "01"},
		{"response value input carries nothing", LayoutResponse,
			tee.Params{{Type: tee.ParamValueInput}},
			"01000000"},
		{"response value output", LayoutResponse,
			tee.Params{{Type: tee.ParamValueOutput, A: 5, B: 6}},
			"02000000" + "0000000500000006"},
		{"response memref input carries nothing", LayoutResponse,
			tee.Params{{Type: tee.ParamMemrefInput}},
			"05000000"},
		{"response memref output", LayoutResponse,
			tee.Params{{Type: tee.ParamMemrefOutput, Data: []byte("ok"), Size: 2}},
			"06000000" + "00000002" + "6f6b"},
		{"response memref inout", LayoutResponse,
			tee.Params{{Type: tee.ParamMemrefInout, Data: []byte("ok"), Size: 2}},
			"07000000" + "00000002" + "6f6b"},
		{"no-data response memref sizes, values kept", LayoutResponseNoData,
			tee.Params{
				{Type: tee.ParamMemrefOutput, Size: 300},
				{Type: tee.ParamMemrefInout, Size: 1},
				{Type: tee.ParamValueOutput, A: 7, B: 8},
				{Type: tee.ParamMemrefInput},
			},
			"06070205" + "0000012c" + "00000001" + "0000000700000008"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			got, err := AppendParams(nil, &c.p, c.layout)
			require.NoError(t, err)
			require.Equal(t, want, got)

			dec, err := DecodeParams(want, c.layout)
			require.NoError(t, err)
			require.Equal(t, c.p, dec)
		})
	}
}

func TestDecodeParamsRejects(t *testing.T) {
	cases := []struct {
		name   string
		layout Layout
		hex    string
		kind   error
	}{
		{"empty", LayoutRequest, "", ErrTruncated},
		{"three types", LayoutRequest, "000000", ErrTruncated},
		{"unknown type", LayoutRequest, "00000400", ErrUnknownParamType},
		{"value truncated", LayoutRequest, "01000000" + "00000001", ErrTruncated},
		{"memref bytes truncated", LayoutRequest, "05000000" + "00000003" + "aabb", ErrTruncated},
		{"inout length above capacity", LayoutRequest, "07000000" + "00000001" + "00000002" + "aabb", ErrMemrefSize},
		{"trailing", LayoutResponse, "00000000" + "00", ErrTrailingBytes},
		{"output data in no-data layout", LayoutResponseNoData, "06000000" + "00000001" + "aa", ErrTrailingBytes},
		{"unknown layout", Layout(9), "00000000", ErrUnknownParamType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := DecodeParams(unhex(t, c.hex), c.layout)
			requireFormatErr(t, err, c.kind)
			require.Zero(t, p)
		})
	}
}

func TestAppendParamsRejects(t *testing.T) {
	p := tee.Params{{Type: tee.ParamMemrefInout, Data: []byte("abc"), Size: 2}}
	out, err := AppendParams([]byte{1}, &p, LayoutRequest)
	require.ErrorIs(t, err, ErrMemrefSize)
	require.Equal(t, []byte{1}, out)

	// In a response an INOUT carries only its output, so no capacity check.
	_, err = AppendParams(nil, &p, LayoutResponse)
	require.NoError(t, err)

	p = tee.Params{{Type: 0x0D}}
	_, err = AppendParams(nil, &p, LayoutResponse)
	require.ErrorIs(t, err, ErrUnknownParamType)

	_, err = AppendParams(nil, &tee.Params{}, Layout(0))
	require.ErrorIs(t, err, tee.ErrBadFormat)
}

func TestResponseLayout(t *testing.T) {
	require.Equal(t, LayoutResponse, ResponseLayout(tee.Success))
	require.Equal(t, LayoutResponseNoData, ResponseLayout(tee.ResultShortBuffer))
	require.Equal(t, LayoutResponseNoData, ResponseLayout(tee.ResultGeneric))
}
