package store

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func TestIdentityEncoding(t *testing.T) {
	got := Identity(Str("group"), U32(7))
	want := []byte{
		0x01, 0, 0, 0, 5, 'g', 'r', 'o', 'u', 'p',
		0x03, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7,
	}
	require.Equal(t, want, got)
	require.Empty(t, Identity())
}

func TestIdentityDistinct(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []byte
	}{
		{"split strings", Identity(Str("ab"), Str("c")), Identity(Str("a"), Str("bc"))},
		{"empty part", Identity(Str("a")), Identity(Str("a"), Str(""))},
		{"string vs bytes", Identity(Str("x")), Identity(Raw([]byte("x")))},
		{"string vs number", Identity(Str("1")), Identity(U64(1))},
		{"signed vs unsigned", Identity(I64(7)), Identity(U64(7))},
		{"order", Identity(U32(1), U32(2)), Identity(U32(2), U32(1))},
		{"group vs finger", Identity(Str("group"), U32(1), Str("finger"), U32(2)), Identity(Str("group"), U32(2), Str("finger"), U32(1))},
		{"uuid vs bytes", Identity(TA(tee.UUIDKeymaster)), Identity(Raw(tee.UUIDKeymaster[:]))},
		{"uuids", Identity(TA(tee.UUIDKeymaster)), Identity(TA(tee.UUIDGatekeeper))},
		{"negative", Identity(I64(-1)), Identity(U64(^uint64(0)))},
	} {
		t.Run(tc.name, func(t *testing.T) { require.NotEqual(t, tc.a, tc.b) })
	}
}

func TestIdentitySameNumber(t *testing.T) {
	// The identity names a number, not a Go type.
	require.Equal(t, Identity(U32(7)), Identity(U64(7)))
}

func TestRawCopies(t *testing.T) {
	b := []byte{1, 2, 3}
	p := Raw(b)
	b[0] = 9
	require.Equal(t, Identity(Raw([]byte{1, 2, 3})), Identity(p))
}
