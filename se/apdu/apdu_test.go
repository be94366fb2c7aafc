package apdu

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// golden is one vector of testdata/commands.json.
type golden struct {
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Case  int    `json:"case"`
	Data  string `json:"data"`
	Ne    int    `json:"ne"`
	Error string `json:"error"` // sentinel name when the vector must be refused
}

var sentinels = map[string]error{
	"ErrTooShort":   ErrTooShort,
	"ErrTooLong":    ErrTooLong,
	"ErrLength":     ErrLength,
	"ErrInvalidCLA": ErrInvalidCLA,
	"ErrInvalidINS": ErrInvalidINS,
}

// TestGoldenCommands holds ParseCommand to the vectors of
// testdata/commands.json (every case of ISO/IEC 7816-4 §5.2 Table 2 in
// short and extended form, and the malformed encodings), and Marshal to
// reproducing each accepted vector byte for byte.
func TestGoldenCommands(t *testing.T) {
	vs := testkit.ReadJSON[[]golden](t, filepath.Join("testdata", "commands.json"))
	require.NotEmpty(t, vs)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			b := testkit.Unhex(t, v.Hex)
			c, err := ParseCommand(b)
			if v.Error != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMalformed)
				assert.ErrorIs(t, err, sentinels[v.Error])
				assert.Zero(t, c, "no partial result")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Case(v.Case), c.Case())
			assert.Equal(t, testkit.Unhex(t, v.Data), append([]byte{}, c.Data...))
			assert.Equal(t, v.Ne, c.Ne)
			out, err := c.Marshal()
			require.NoError(t, err)
			assert.Equal(t, b, out, "re-encoding")
		})
	}
}

func TestMarshalChoosesForm(t *testing.T) {
	tests := []struct {
		name string
		c    Command
		want string
	}{
		{"case1", Command{INS: 0xA4}, "00A40000"},
		{"case2 short 256", Command{INS: 0x84, Ne: 256}, "0084000000"},
		{"case2 extended 257", Command{INS: 0x84, Ne: 257}, "00840000000101"},
		{"case2 extended 65536", Command{INS: 0x84, Ne: 65536}, "00840000000000"},
		{"case3 long data", Command{INS: 0xDA, Data: bytes.Repeat([]byte{1}, 256)}, "00DA0000000100" + strings.Repeat("01", 256)},
		{"case4 extended by Ne", Command{INS: 0x2A, P1: 0x9E, P2: 0x9A, Data: []byte{9}, Ne: 300}, "002A9E9A00000109012C"},
		{"case1 extended flag has no extended form", Command{INS: 0xA4, Extended: true}, "00A40000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.c.Marshal()
			require.NoError(t, err)
			assert.Equal(t, strings.ToUpper(tt.want), strings.ToUpper(hex.EncodeToString(out)))
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	for name, c := range map[string]Command{
		"CLA FF": {CLA: 0xFF, INS: 0xA4},
		"INS 61": {INS: 0x61},
		"INS 9F": {INS: 0x9F},
		"Ne -1":  {INS: 0x84, Ne: -1},
		"Ne big": {INS: 0x84, Ne: MaxNe + 1},
		"Nc big": {INS: 0xDA, Data: make([]byte, MaxNc+1)},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := c.Marshal()
			assert.ErrorIs(t, err, ErrEncode)
			assert.Nil(t, out)
		})
	}
}

func TestResponse(t *testing.T) {
	r, err := ParseResponse(testkit.Unhex(t, "0102039000"))
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, r.Data)
	assert.Equal(t, SWOK, r.SW)
	assert.Equal(t, testkit.Unhex(t, "0102039000"), r.Marshal())

	r, err = ParseResponse(testkit.Unhex(t, "63C5"))
	require.NoError(t, err)
	assert.Nil(t, r.Data)
	n, ok := r.SW.Tries()
	assert.True(t, ok)
	assert.Equal(t, 5, n)

	for name, h := range map[string]string{"empty": "", "one": "90", "SW1 60": "6000", "SW1 00": "0000", "SW1 A0": "A000"} {
		t.Run(name, func(t *testing.T) {
			r, err := ParseResponse(testkit.Unhex(t, h))
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Zero(t, r)
		})
	}
	_, err = ParseResponse(make([]byte, MaxResponseSize+1))
	assert.ErrorIs(t, err, ErrTooLong)
}

func TestSWHelpers(t *testing.T) {
	assert.Equal(t, SW(0x63C5), VerifyFailed(5))
	assert.Equal(t, SW(0x63C0), VerifyFailed(-1))
	assert.Equal(t, SW(0x63CF), VerifyFailed(99))
	assert.Equal(t, SW(0x6110), BytesRemaining(16))
	assert.Equal(t, SW(0x6100), BytesRemaining(256))
	_, ok := SWOK.Tries()
	assert.False(t, ok)
	assert.Equal(t, "6983", SWAuthMethodBlocked.String())
	assert.True(t, Command{CLA: 0x10}.Chained())
	assert.False(t, Command{CLA: 0x00}.Chained())
	assert.False(t, Command{CLA: 0x90}.Chained(), "proprietary class has no chaining bit")
}

func TestParseCopiesData(t *testing.T) {
	in := testkit.Unhex(t, "002000010631323334353600")
	c, err := ParseCommand(in)
	require.NoError(t, err)
	in[5] = 'X'
	assert.Equal(t, []byte("123456"), c.Data)
}
