package tokens

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayoutConstants(t *testing.T) {
	assert.Equal(t, 69, Size)
	assert.Equal(t, 32, MACSize)
	assert.Equal(t, 37, MACedSize)
	assert.Equal(t, 1+8+8+8+4+8, MACedSize)
	assert.Equal(t, 0, Version)
}

// The hand-made token: every field is checked against the value written in
// the comments of testdata/handmade.txt.
func TestHandmadeVector(t *testing.T) {
	b := loadHandmade(t)
	require.Len(t, b, Size)

	tok, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint8(0), tok.Version)
	assert.Equal(t, uint64(0x0123456789ABCDEF), tok.Challenge)
	assert.Equal(t, uint64(0x1122334455667788), tok.UserID)
	assert.Equal(t, uint64(0x0A0B0C0D0E0F1011), tok.AuthenticatorID)
	assert.Equal(t, AuthFingerprint, tok.AuthenticatorType)
	assert.Equal(t, uint64(4328719365), tok.Timestamp)
	assert.Equal(t, "ec4491785d402eaa95c4527405821e8c2520205b34c81b6e2f08878e0ce81a0e", hex.EncodeToString(tok.MAC[:]))

	assert.Equal(t, b, tok.Marshal())
	assert.Equal(t, b[:MACedSize], tok.MarshalWithoutMAC())
	require.NoError(t, mustMAC(t, HMACSHA256, testKey).Check(&tok))
	_, err = NewVerifier(mustMAC(t, HMACSHA256, testKey)).Verify(b)
	require.NoError(t, err)
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			b := testkit.Unhex(t, v.Hex)
			tok, err := Parse(b)
			require.NoError(t, err)
			want := Token{Version: v.Version, Challenge: v.Challenge, UserID: v.UserID,
				AuthenticatorID: v.AuthenticatorID, AuthenticatorType: AuthenticatorType(v.AuthenticatorType),
				Timestamp: v.Timestamp}
			copy(want.MAC[:], testkit.Unhex(t, v.HMAC))
			assert.Equal(t, want, tok)

			// Round trips through every encoder.
			assert.Equal(t, b, tok.Marshal())
			assert.Equal(t, b[:MACedSize], tok.MarshalWithoutMAC())
			arr := tok.Array()
			assert.Equal(t, b, arr[:])
			assert.Equal(t, append([]byte("x"), b...), tok.Append([]byte("x")))
			assert.Equal(t, append([]byte("x"), b[:MACedSize]...), tok.AppendWithoutMAC([]byte("x")))
			fromHex, err := ParseHex(v.Hex)
			require.NoError(t, err)
			assert.Equal(t, tok, fromHex)

			// The MAC, computed outside Go, is reproduced by Sign and accepted by Check.
			alg, err := ParseMACAlgorithm(v.MACAlgorithm)
			require.NoError(t, err)
			m := mustMAC(t, alg, testkit.Unhex(t, v.Key))
			require.NoError(t, m.Check(&tok))
			unsigned := want
			unsigned.MAC = [MACSize]byte{}
			m.Sign(&unsigned)
			assert.Equal(t, want.MAC, unsigned.MAC)
		})
	}
}

func TestParseRejectsWrongLength(t *testing.T) {
	valid := loadHandmade(t)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"missing last byte", valid[:Size-1]},
		{"MACed bytes only", valid[:MACedSize]},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"two tokens", append(append([]byte{}, valid...), valid...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Parse(tc.in)
			requireOnlySentinel(t, err, ErrMalformed)
			var me *MalformedError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, len(tc.in), me.Len)
			assert.Contains(t, err.Error(), "want 69")
			assert.Zero(t, tok, "no partial token on error")

			var u Token
			u.UserID = 5
			require.ErrorIs(t, u.UnmarshalBinary(tc.in), ErrMalformed)
			assert.Equal(t, uint64(5), u.UserID, "UnmarshalBinary leaves the token unchanged on error")
		})
	}
}

func TestParseHex(t *testing.T) {
	valid := loadHandmade(t)
	h := hex.EncodeToString(valid)
	for _, tc := range []struct {
		name    string
		in      string
		wantErr string // "" means success
	}{
		{"lower case", h, ""},
		{"upper case", strings.ToUpper(h), ""},
		{"surrounding whitespace", " \t\n" + h + "\r\n", ""},
		{"empty", "", "length 0 bytes"},
		{"whitespace only", "  \n", "length 0 bytes"},
		{"odd length", h[:len(h)-1], "odd number of hex digits"},
		{"non-hex character", "zz" + h[2:], "not hex"},
		{"non-hex short", "zz", "not hex"},
		{"0x prefix", "0x" + h, "not hex"},
		{"inner space", h[:10] + " " + h[10:] + "0", "not hex"},
		{"inner separators", strings.Join([]string{h[:2], h[2:]}, ":") + "0", "not hex"},
		{"too short", h[:len(h)-2], "length 68 bytes"},
		{"too long", h + "00", "length 70 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseHex(tc.in)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, valid, tok.Marshal())
				return
			}
			requireOnlySentinel(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Zero(t, tok)
		})
	}
}

func randomToken(r *rand.Rand) Token {
	t := Token{
		Version:           uint8(r.Uint32()),
		Challenge:         r.Uint64(),
		UserID:            r.Uint64(),
		AuthenticatorID:   r.Uint64(),
		AuthenticatorType: AuthenticatorType(r.Uint32()),
		Timestamp:         r.Uint64(),
	}
	for i := range t.MAC {
		t.MAC[i] = byte(r.Uint32())
	}
	return t
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		want := randomToken(r)
		got, err := Parse(want.Marshal())
		require.NoError(t, err)
		require.Equal(t, want, got)

		bin, err := want.MarshalBinary()
		require.NoError(t, err)
		var u Token
		require.NoError(t, u.UnmarshalBinary(bin))
		require.Equal(t, want, u)
		app, err := want.AppendBinary(nil)
		require.NoError(t, err)
		require.Equal(t, bin, app)
	}
}

// The byte order of each field is fixed by hw_auth_token.h: a token with only
// one field set has exactly that field's bytes set, in the right order.
func TestFieldByteOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  Token
		off  int
		want []byte
	}{
		{"version", Token{Version: 0xAB}, 0, []byte{0xAB}},
		{"challenge little-endian", Token{Challenge: 0x0102030405060708}, 1, []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"user_id little-endian", Token{UserID: 0x0102030405060708}, 9, []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"authenticator_id little-endian", Token{AuthenticatorID: 0x0102030405060708}, 17, []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"authenticator_type big-endian", Token{AuthenticatorType: 0x01020304}, 25, []byte{1, 2, 3, 4}},
		{"timestamp big-endian", Token{Timestamp: 0x0102030405060708}, 29, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"hmac", Token{MAC: [MACSize]byte{0: 0xEE, 31: 0xFF}}, 37, append(append([]byte{0xEE}, make([]byte, 30)...), 0xFF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]byte, Size)
			copy(want[tc.off:], tc.want)
			assert.Equal(t, want, tc.tok.Marshal())
		})
	}
}
