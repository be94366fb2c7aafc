package tokens

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base is a fingerprint token minted at 10 s since boot for SID 1001
// (user_id) and authenticator 2002, challenge 777.
func signedBase(t testing.TB, m *MAC) Token {
	t.Helper()
	tok := Token{Version: 0, Challenge: 777, UserID: 1001, AuthenticatorID: 2002,
		AuthenticatorType: AuthFingerprint, Timestamp: 10_000}
	m.Sign(&tok)
	return tok
}

func TestVerifierRules(t *testing.T) {
	m := mustMAC(t, HMACSHA256, testKey)
	base := signedBase(t, m)
	resign := func(f func(*Token)) []byte {
		tok := base
		f(&tok)
		m.Sign(&tok)
		return tok.Marshal()
	}
	good := base.Marshal()
	badMAC := append([]byte(nil), good...)
	badMAC[Size-1] ^= 0x80
	v := NewVerifier(m)
	fresh := func(now uint64, timeout time.Duration) Verifier { return v.WithFreshness(now, timeout) }

	for _, tc := range []struct {
		name string
		v    Verifier
		in   []byte
		want error // nil: accepted
	}{
		// Accepted.
		{"MAC only", v, good, nil},
		{"full policy", v.WithChallenge(777).WithAuthenticatorTypes(AuthFingerprint).WithSecureIDs(1001).
			WithFreshness(10_500, time.Second), good, nil},

		// Malformed (Parse).
		{"short", v, good[:Size-1], ErrMalformed},
		{"long", v, append(append([]byte(nil), good...), 0), ErrMalformed},
		{"empty", v, nil, ErrMalformed},

		// Version: GetAndValidateAuthToken requires HW_AUTH_TOKEN_VERSION.
		{"version 1 (correctly signed)", v, resign(func(t *Token) { t.Version = 1 }), ErrVersion},
		{"version 0xff", v, resign(func(t *Token) { t.Version = 0xFF }), ErrVersion},

		// MAC: ValidateTokenSignature.
		{"flipped hmac bit", v, badMAC, ErrBadMAC},
		{"field changed after signing", v, func() []byte { b := append([]byte(nil), good...); b[offUserID] ^= 1; return b }(), ErrBadMAC},
		{"other key", NewVerifier(mustMAC(t, HMACSHA256, make([]byte, KeySize))), good, ErrBadMAC},
		{"other algorithm", NewVerifier(mustMAC(t, HMACSM3, testKey)), good, ErrBadMAC},
		{"no MAC configured", Verifier{}, good, ErrBadMAC},
		{"nil MAC", NewVerifier(nil), good, ErrBadMAC},

		// Challenge: AuthTokenMatches op_handle != token->challenge.
		{"challenge matches", v.WithChallenge(777), good, nil},
		{"challenge mismatch", v.WithChallenge(778), good, ErrChallenge},
		{"challenge zero required", v.WithChallenge(0), good, ErrChallenge},

		// Authenticator type: (mask & type) != 0.
		{"type exact", v.WithAuthenticatorTypes(AuthFingerprint), good, nil},
		{"type in mask", v.WithAuthenticatorTypes(AuthPassword | AuthFingerprint), good, nil},
		{"type ANY mask", v.WithAuthenticatorTypes(AuthAny), good, nil},
		{"type wrong", v.WithAuthenticatorTypes(AuthPassword), good, ErrAuthenticatorType},
		{"type mask NONE rejects all", v.WithAuthenticatorTypes(AuthNone), good, ErrAuthenticatorType},
		{"token type NONE vs ANY", v.WithAuthenticatorTypes(AuthAny), resign(func(t *Token) { t.AuthenticatorType = AuthNone }), ErrAuthenticatorType},

		// Secure IDs: any SID equals user_id or authenticator_id.
		{"SID = user_id", v.WithSecureIDs(1001), good, nil},
		{"SID = authenticator_id", v.WithSecureIDs(2002), good, nil},
		{"one of several SIDs", v.WithSecureIDs(5, 6, 2002), good, nil},
		{"SID mismatch", v.WithSecureIDs(5, 6), good, ErrSecureID},
		{"SID is challenge, not an id", v.WithSecureIDs(777), good, ErrSecureID},
		{"no SIDs fails closed", v.WithSecureIDs(), good, ErrSecureID},

		// Freshness: expired iff now - timestamp > timeout.
		{"age 0", fresh(10_000, time.Second), good, nil},
		{"age == timeout", fresh(11_000, time.Second), good, nil},
		{"age == timeout + 1ms", fresh(11_001, time.Second), good, ErrExpired},
		{"long expired", fresh(1<<40, 30*time.Second), good, ErrExpired},
		{"zero timeout, same ms", fresh(10_000, 0), good, nil},
		{"zero timeout, 1ms later", fresh(10_001, 0), good, ErrExpired},
		{"negative timeout is zero", fresh(10_001, -time.Hour), good, ErrExpired},
		{"sub-ms timeout truncated", fresh(10_001, 999*time.Microsecond), good, ErrExpired},
		{"future within skew", fresh(9_000, time.Second), good, nil},
		{"future beyond skew", fresh(8_999, time.Second), good, ErrFuture},
		{"future, zero skew", fresh(9_999, time.Second).WithClockSkew(0), good, ErrFuture},
		{"future, wider skew", fresh(5_000, time.Second).WithClockSkew(5 * time.Second), good, nil},
		{"future, now 0", fresh(0, time.Hour), good, ErrFuture},
		{"max timestamp, max now", fresh(1<<64-1, 0), resign(func(t *Token) { t.Timestamp = 1<<64 - 1 }), nil},
		{"max timestamp, now 0", fresh(0, time.Hour), resign(func(t *Token) { t.Timestamp = 1<<64 - 1 }), ErrFuture},
		{"timestamp 0, max now", fresh(1<<64-1, time.Hour), resign(func(t *Token) { t.Timestamp = 0 }), ErrExpired},

		// Check order: version before MAC, MAC before policy, policy in order.
		{"bad version and bad MAC", v, func() []byte { b := append([]byte(nil), badMAC...); b[0] = 1; return b }(), ErrVersion},
		{"bad MAC and bad challenge", v.WithChallenge(1), badMAC, ErrBadMAC},
		{"bad challenge and bad type", v.WithChallenge(1).WithAuthenticatorTypes(AuthPassword), good, ErrChallenge},
		{"bad type and bad SID", v.WithAuthenticatorTypes(AuthPassword).WithSecureIDs(1), good, ErrAuthenticatorType},
		{"bad SID and expired", v.WithSecureIDs(1).WithFreshness(1<<40, 0), good, ErrSecureID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.v.Verify(tc.in)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.in, tok.Marshal())
			} else {
				requireOnlySentinel(t, err, tc.want)
				assert.Zero(t, tok, "no partial token on error")
			}
			if parsed, perr := Parse(tc.in); perr == nil {
				err2 := tc.v.VerifyToken(&parsed)
				if tc.want == nil {
					require.NoError(t, err2)
				} else {
					requireOnlySentinel(t, err2, tc.want)
				}
			}
		})
	}
}

// Error messages say which rule failed and with which values, never the key.
func TestVerifierErrorMessages(t *testing.T) {
	m := mustMAC(t, HMACSHA256, testKey)
	good := signedBase(t, m).Marshal()
	for _, tc := range []struct {
		v    Verifier
		want string
	}{
		{NewVerifier(m).WithChallenge(5), "token challenge 777, want 5"},
		{NewVerifier(m).WithAuthenticatorTypes(AuthPassword), "token type FINGERPRINT (2), required mask PASSWORD (1)"},
		{NewVerifier(m).WithSecureIDs(9), "user_id 1001 and authenticator_id 2002 match none of 1 required SIDs"},
		{NewVerifier(m).WithFreshness(20_000, 3*time.Second), "age 10000 ms exceeds timeout 3000 ms"},
		{NewVerifier(m).WithFreshness(1_000, 3*time.Second), "timestamp 10000 ms is 9000 ms after now 1000 ms"},
	} {
		_, err := tc.v.Verify(good)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "000102030405")
	}
}

// With* methods return modified copies; the receiver and the caller's SID
// slice are never shared.
func TestVerifierIsImmutable(t *testing.T) {
	m := mustMAC(t, HMACSHA256, testKey)
	good := signedBase(t, m).Marshal()
	base := NewVerifier(m)
	strict := base.WithChallenge(1)
	_, err := strict.Verify(good)
	require.ErrorIs(t, err, ErrChallenge)
	_, err = base.Verify(good)
	require.NoError(t, err, "base verifier unchanged by WithChallenge")

	sids := []uint64{1001}
	withSIDs := base.WithSecureIDs(sids...)
	sids[0] = 4
	_, err = withSIDs.Verify(good)
	require.NoError(t, err, "WithSecureIDs copied the slice")
}

func TestVerifyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	m := mustMAC(t, HMACSHA256, testKey)
	tok := signedBase(t, m)
	good := tok.Marshal()
	v := NewVerifier(m).WithChallenge(777).WithAuthenticatorTypes(AuthFingerprint).
		WithSecureIDs(1, 2002).WithFreshness(10_001, time.Minute)
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		if _, err := v.Verify(good); err != nil {
			t.Fatal(err)
		}
	}))
	assert.Zero(t, testing.AllocsPerRun(200, func() { _, _ = Parse(good) }))
	assert.Zero(t, testing.AllocsPerRun(200, func() { m.Sign(&tok) }))
}
