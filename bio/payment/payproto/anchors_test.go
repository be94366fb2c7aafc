package payproto

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrustAnchorsRoundTrip(t *testing.T) {
	a := TrustAnchors{ServerName: "pay.fpemu.test", Roots: [][]byte{{0x30, 1}, {0x30, 2, 3}}, RSAServer: []byte{0x30, 9}}
	b, err := a.Marshal()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 0, 14}, b[:3])
	got, err := ParseTrustAnchors(b)
	require.NoError(t, err)
	assert.Equal(t, a, got)
}

func TestTrustAnchorsRejects(t *testing.T) {
	good, err := TrustAnchors{ServerName: "s", Roots: [][]byte{{1}}}.Marshal()
	require.NoError(t, err)
	tests := []struct {
		name string
		a    *TrustAnchors
		b    []byte
	}{
		{"empty", nil, nil},
		{"version", nil, append([]byte{2}, good[1:]...)},
		{"trailing", nil, append(bytes.Clone(good), 0)},
		{"truncated", nil, good[:len(good)-1]},
		{"nothing trusted", &TrustAnchors{ServerName: "s"}, nil},
		{"roots without name", &TrustAnchors{Roots: [][]byte{{1}}}, nil},
		{"empty root", &TrustAnchors{ServerName: "s", Roots: [][]byte{{}}}, nil},
		{"too many roots", &TrustAnchors{ServerName: "s", Roots: make([][]byte, MaxAnchorRoots+1)}, nil},
		{"long root", &TrustAnchors{ServerName: "s", Roots: [][]byte{make([]byte, MaxAnchorCert+1)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a != nil {
				_, err := tt.a.Marshal()
				require.ErrorIs(t, err, ErrAnchors)
				return
			}
			a, err := ParseTrustAnchors(tt.b)
			require.ErrorIs(t, err, ErrAnchors)
			assert.Equal(t, TrustAnchors{}, a, "no partial result")
		})
	}
}

func FuzzParseTrustAnchors(f *testing.F) {
	for _, a := range []TrustAnchors{
		{ServerName: "pay.fpemu.test", Roots: [][]byte{{0x30, 1}}},
		{RSAServer: []byte{0x30, 0x82}},
		{ServerName: "s", Roots: [][]byte{{1}, {2}}, RSAServer: []byte{3}},
	} {
		b, err := a.Marshal()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseTrustAnchors(b)
		if err != nil {
			require.Equal(t, TrustAnchors{}, a)
			return
		}
		out, err := a.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

func TestParseKeyRefPrefix(t *testing.T) {
	ref, err := KeyRef{AppID: "a", Scene: "pay"}.Marshal()
	require.NoError(t, err)
	r, rest, err := ParseKeyRefPrefix(append(bytes.Clone(ref), "payload"...))
	require.NoError(t, err)
	assert.Equal(t, KeyRef{AppID: "a", Scene: "pay"}, r)
	assert.Equal(t, []byte("payload"), rest)
	for i := range len(ref) {
		_, _, err := ParseKeyRefPrefix(ref[:i])
		require.ErrorIs(t, err, ErrBadRequest, "prefix %d", i)
	}
}

// FuzzParseKeyRefPrefix: CHANNEL_SEAL_PAYMENT's p2 decoder never panics,
// returns nothing on error (ErrBadRequest), and what it accepts is the
// canonical KeyRef followed by the payload, byte for byte.
func FuzzParseKeyRefPrefix(f *testing.F) {
	for _, r := range []KeyRef{{AppID: "a", Scene: "pay"}, {AppID: "com.example.wallet"}} {
		b, err := r.Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(append(bytes.Clone(b), "order 42"...))
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, rest, err := ParseKeyRefPrefix(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRequest)
			require.Equal(t, KeyRef{}, r)
			require.Nil(t, rest)
			return
		}
		ref, err := r.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, append(ref, rest...))
	})
}
