package kmproto

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tokens"
)

func sm2KeyParams() Params {
	return Params{
		AlgorithmParam(AlgorithmEC),
		ECCurveParam(CurveSM2),
		PurposeParam(PurposeSign),
		DigestParam(DigestSM3),
		UserSecureIDParam(0x1122334455667788),
		UserAuthTypeParam(tokens.AuthPassword),
		AuthTimeoutParam(30),
	}
}

func TestParamsGolden(t *testing.T) {
	want := testkit.ReadHex(t, filepath.Join("testdata", "params_sm2_timeout.hex"))
	got, err := sm2KeyParams().Marshal()
	require.NoError(t, err)
	assert.Equal(t, want, got)

	ps, err := ParseParams(want)
	require.NoError(t, err)
	c, err := sm2KeyParams().canonical()
	require.NoError(t, err)
	assert.Equal(t, c, ps)
}

func TestParamsCanonicalOrder(t *testing.T) {
	a := Params{UserSecureIDParam(2), PurposeParam(PurposeSign), UserSecureIDParam(1), NoAuthRequiredParam()}
	b := Params{NoAuthRequiredParam(), UserSecureIDParam(1), UserSecureIDParam(2), PurposeParam(PurposeSign)}
	ab, err := a.Marshal()
	require.NoError(t, err)
	bb, err := b.Marshal()
	require.NoError(t, err)
	assert.Equal(t, ab, bb)
	// The caller's slice is not reordered.
	assert.Equal(t, UserSecureIDParam(2), a[0])
}

func TestParamsRoundTripAllTypes(t *testing.T) {
	ps := Params{
		{Tag: Tag(TypeEnum) | 100, Int: 7},
		{Tag: Tag(TypeEnumRep) | 101, Int: 1},
		{Tag: Tag(TypeEnumRep) | 101, Int: 2},
		{Tag: Tag(TypeUint) | 102, Int: 0xFFFFFFFF},
		{Tag: Tag(TypeUintRep) | 103, Int: 3},
		{Tag: Tag(TypeUlong) | 104, Int: 1 << 63},
		{Tag: Tag(TypeDate) | 105, Int: 1700000000000},
		{Tag: Tag(TypeBool) | 106},
		{Tag: Tag(TypeBignum) | 107, Bytes: []byte{0x01, 0x00}},
		{Tag: Tag(TypeBytes) | 108, Bytes: []byte("hello")},
		{Tag: Tag(TypeBytes) | 109, Bytes: []byte{}},
		{Tag: Tag(TypeUlongRep) | 110, Int: 5},
	}
	b, err := ps.Marshal()
	require.NoError(t, err)
	got, err := ParseParams(b)
	require.NoError(t, err)
	want, err := ps.canonical()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	b2, err := got.Marshal()
	require.NoError(t, err)
	assert.Equal(t, b, b2)
}

func TestParamsParseCopiesBytes(t *testing.T) {
	b, err := Params{{Tag: Tag(TypeBytes) | 1, Bytes: []byte("abc")}}.Marshal()
	require.NoError(t, err)
	ps, err := ParseParams(b)
	require.NoError(t, err)
	b[len(b)-1] = 'X'
	assert.Equal(t, []byte("abc"), ps[0].Bytes)
}

func be32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

func TestParseParamsRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short count", []byte{0, 0, 0}},
		{"count too large", be32(MaxParams + 1)},
		{"count exceeds input", be32(3, uint32(TagNoAuthRequired))},
		{"truncated tag", append(be32(1), 0xF7, 0x01)},
		{"invalid type 0", be32(1, 0x00000001)},
		{"invalid type 11", be32(1, 0xB0000001)},
		{"invalid type 15", be32(1, 0xF0000001)},
		{"truncated u32", append(be32(1, uint32(TagAuthTimeout)), 1, 2)},
		{"truncated u64", append(be32(1, uint32(TagUserSecureID)), 1, 2, 3, 4)},
		{"truncated bytes length", append(be32(1, uint32(TypeBytes)|1), 1)},
		{"truncated bytes value", be32(1, uint32(TypeBytes)|1, 8, 0)},
		{"bytes too long", be32(1, uint32(TypeBytes)|1, MaxBytesValue+1)},
		{"trailing byte", append(be32(1, uint32(TagNoAuthRequired)), 0)},
		{"non-repeatable twice", be32(2, uint32(TagAuthTimeout), 1, uint32(TagAuthTimeout), 2)},
		{"bool twice", be32(2, uint32(TagNoAuthRequired), uint32(TagNoAuthRequired))},
		{"repeatable duplicate", be32(2, uint32(TagPurpose), 2, uint32(TagPurpose), 2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := ParseParams(tc.in)
			require.ErrorIs(t, err, ErrMalformedParams)
			assert.Nil(t, ps)
		})
	}
}

func TestParamsMarshalRejects(t *testing.T) {
	many := make(Params, MaxParams+1)
	for i := range many {
		many[i] = UserSecureIDParam(uint64(i))
	}
	cases := []struct {
		name string
		ps   Params
	}{
		{"invalid tag type", Params{{Tag: 5}}},
		{"u32 overflow", Params{{Tag: TagAuthTimeout, Int: 1 << 32}}},
		{"bool with value", Params{{Tag: TagNoAuthRequired, Int: 1}}},
		{"int with bytes", Params{{Tag: TagAuthTimeout, Bytes: []byte{1}}}},
		{"bytes with int", Params{{Tag: Tag(TypeBytes) | 1, Int: 1}}},
		{"bytes too long", Params{{Tag: Tag(TypeBytes) | 1, Bytes: make([]byte, MaxBytesValue+1)}}},
		{"too many", many},
		{"duplicate", Params{UserSecureIDParam(1), UserSecureIDParam(1)}},
		{"non-repeatable twice", Params{AuthTimeoutParam(1), AuthTimeoutParam(2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.ps.Marshal()
			require.ErrorIs(t, err, ErrMalformedParams)
			assert.Nil(t, b)
		})
	}
}

func TestTagNames(t *testing.T) {
	assert.Equal(t, Tag(0xA00001F6), TagUserSecureID)
	assert.Equal(t, Tag(0x700001F7), TagNoAuthRequired)
	assert.Equal(t, Tag(0x100001F8), TagUserAuthType)
	assert.Equal(t, Tag(0x300001F9), TagAuthTimeout)
	assert.Equal(t, Tag(0x20000001), TagPurpose)
	assert.Equal(t, Tag(0x10000002), TagAlgorithm)
	assert.Equal(t, Tag(0x20000005), TagDigest)
	assert.Equal(t, Tag(0x1000000A), TagECCurve)
	assert.Equal(t, "USER_SECURE_ID", TagUserSecureID.String())
	assert.Equal(t, "BYTES|9", (Tag(TypeBytes) | 9).String())
	assert.True(t, TagUserSecureID.Repeatable())
	assert.False(t, TagAuthTimeout.Repeatable())
}

// FuzzParseParams: ParseParams never panics; what it accepts re-marshals to
// a canonical encoding that parses back to the same list.
func FuzzParseParams(f *testing.F) {
	golden, err := sm2KeyParams().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(be32(0))
	f.Add(be32(1, uint32(TagNoAuthRequired)))
	f.Add(be32(2, uint32(TagUserSecureID), 1, 0, uint32(TagPurpose), 2))
	f.Add(be32(1, uint32(TypeBytes)|1, 3, 0x00636261))
	f.Add(be32(1, uint32(TypeBytes)|1, 0xFFFFFFFF))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseParams(b)
		if err != nil {
			if ps != nil {
				t.Fatal("partial result on error")
			}
			return
		}
		enc, err := ps.Marshal()
		if err != nil {
			t.Fatalf("accepted list does not marshal: %v", err)
		}
		again, err := ParseParams(enc)
		if err != nil {
			t.Fatalf("canonical encoding does not parse: %v", err)
		}
		enc2, err := again.Marshal()
		if err != nil || string(enc) != string(enc2) {
			t.Fatal("marshal not idempotent")
		}
		if len(enc) != len(b) {
			t.Fatalf("canonical length %d differs from input %d", len(enc), len(b))
		}
	})
}
