package tokens

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHardwareAuthTokenRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		tok := randomToken(r)
		tok.Version = Version
		h := tok.HardwareAuthToken()
		require.Len(t, h.MAC, MACSize)
		back, err := FromHardwareAuthToken(h)
		require.NoError(t, err)
		require.Equal(t, tok, back)
	}
}

// AIDL longs are signed: the full unsigned range maps to negative values and
// back bit-for-bit (HardwareAuthTokenUtils, KeyMintUtils authToken2AidlVec).
func TestHardwareAuthTokenSignedFields(t *testing.T) {
	tok := Token{Challenge: math.MaxUint64, UserID: 1 << 63, AuthenticatorID: math.MaxInt64,
		AuthenticatorType: AuthAny, Timestamp: math.MaxUint64}
	h := tok.HardwareAuthToken()
	assert.Equal(t, int64(-1), h.Challenge)
	assert.Equal(t, int64(math.MinInt64), h.UserID)
	assert.Equal(t, int64(math.MaxInt64), h.AuthenticatorID)
	assert.Equal(t, AuthAny, h.AuthenticatorType)
	assert.Equal(t, int64(-1), h.Timestamp)

	back, err := FromHardwareAuthToken(HardwareAuthToken{Challenge: -1, UserID: math.MinInt64, Timestamp: -2,
		MAC: make([]byte, MACSize)})
	require.NoError(t, err)
	assert.Equal(t, uint64(math.MaxUint64), back.Challenge)
	assert.Equal(t, uint64(1<<63), back.UserID)
	assert.Equal(t, uint64(math.MaxUint64-1), back.Timestamp)
}

// A HardwareAuthToken signed as the AIDL doc says verifies as a 69-byte token.
func TestHardwareAuthTokenVerifies(t *testing.T) {
	m := mustMAC(t, HMACSHA256, testKey)
	tok := Token{Challenge: 77, UserID: 5, AuthenticatorType: AuthFingerprint, Timestamp: 1000}
	m.Sign(&tok)
	back, err := FromHardwareAuthToken(tok.HardwareAuthToken())
	require.NoError(t, err)
	_, err = NewVerifier(m).WithChallenge(77).Verify(back.Marshal())
	require.NoError(t, err)
}

func TestHardwareAuthTokenMACCopied(t *testing.T) {
	tok := Token{MAC: [MACSize]byte{1, 2, 3}}
	h := tok.HardwareAuthToken()
	h.MAC[0] = 9
	assert.Equal(t, byte(1), tok.MAC[0], "HardwareAuthToken copies the MAC")
	back, err := FromHardwareAuthToken(h)
	require.NoError(t, err)
	h.MAC[1] = 9
	assert.Equal(t, byte(2), back.MAC[1], "FromHardwareAuthToken copies the MAC")
}

func TestFromHardwareAuthTokenBadMAC(t *testing.T) {
	for _, tc := range []struct {
		name string
		mac  []byte
		want string
	}{
		{"nil mac means no token", nil, "empty mac"},
		{"empty mac", []byte{}, "empty mac"},
		{"short", make([]byte, 31), "31 bytes, want 32"},
		{"long", make([]byte, 33), "33 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := FromHardwareAuthToken(HardwareAuthToken{UserID: 1, MAC: tc.mac})
			requireOnlySentinel(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, tok)
		})
	}
}
