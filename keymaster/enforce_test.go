package keymaster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// The enforcement tests mirror system/keymaster tests/keymaster_enforcement_test.cpp
// (TestAuthPerOp*, TestAuthAndNoAuth, TestTimedAuth*): a token with
// challenge 99, user_id 9, authenticator_id 0, type PASSWORD, stamped "now".

const (
	testChallenge = 99
	testUserID    = 9
	testStartMs   = 1_000_000
)

var testAuthKey = []byte("0123456789abcdef0123456789abcdef")

func baseToken() tokens.Token {
	return tokens.Token{
		Version:           tokens.Version,
		Challenge:         testChallenge,
		UserID:            testUserID,
		AuthenticatorType: tokens.AuthPassword,
		Timestamp:         testStartMs,
	}
}

// step is one call into the enforcer. With neither tok, tamper nor raw set
// the call carries no HAT.
type step struct {
	begin   bool                // AuthorizeBegin, else AuthorizeUpdateOrFinish
	advance time.Duration       // clock advance before the call
	tok     func(*tokens.Token) // field changes before the MAC is computed
	tamper  func(*tokens.Token) // changes after the MAC is computed
	raw     []byte              // overrides tok: raw HAT bytes
	handle  uint64              // op handle for update/finish
	badKey  bool                // sign with a different key
	code    kmproto.ErrorCode
	reason  error // wrapped reason, when code != OK
}

func keyParams(extra ...kmproto.Param) kmproto.Params {
	return append(kmproto.Params{kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.PurposeParam(kmproto.PurposeSign)}, extra...)
}

func TestEnforcement(t *testing.T) {
	mac, err := tokens.NewMAC(tokens.HMACSHA256, testAuthKey)
	require.NoError(t, err)
	otherMAC, err := tokens.NewMAC(tokens.HMACSHA256, []byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)

	sid := kmproto.UserSecureIDParam(testUserID)
	anyType := kmproto.UserAuthTypeParam(tokens.AuthAny)
	timeout1 := kmproto.AuthTimeoutParam(1)
	unchanged := func(*tokens.Token) {}

	cases := []struct {
		name   string
		params kmproto.Params
		steps  []step
	}{
		{"PerOpSuccess", keyParams(sid, anyType), []step{
			{begin: true},
			{tok: unchanged, handle: testChallenge},
		}},
		{"PerOpInvalidTokenSignature", keyParams(sid, anyType), []step{
			{begin: true},
			{tamper: func(tk *tokens.Token) { tk.MAC[0] ^= 1 }, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrBadMAC},
		}},
		{"PerOpTokenFromOtherKey", keyParams(sid, anyType), []step{
			{tok: unchanged, badKey: true, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrBadMAC},
		}},
		{"PerOpWrongChallenge", keyParams(sid, anyType), []step{
			{begin: true},
			{tok: unchanged, handle: testChallenge + 1,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrChallenge},
		}},
		// KM fails this at update; KMR AuthInfo::new (and fpemu) at begin.
		{"PerOpNoAuthType", keyParams(sid), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorKeyUserNotAuthenticated, reason: ErrNoAuthType},
		}},
		{"PerOpWrongAuthType", keyParams(sid, kmproto.UserAuthTypeParam(tokens.AuthFingerprint)), []step{
			{begin: true},
			{tok: unchanged, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrAuthenticatorType},
		}},
		{"PerOpWrongSid", keyParams(kmproto.UserSecureIDParam(testUserID+1), anyType), []step{
			{begin: true},
			{tok: unchanged, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrSecureID},
		}},
		{"PerOpSuccessAlternateSid", keyParams(kmproto.UserSecureIDParam(10), anyType), []step{
			{begin: true},
			{tok: func(tk *tokens.Token) { tk.AuthenticatorID = 10 }, handle: testChallenge},
		}},
		{"PerOpMultiSid", keyParams(kmproto.UserSecureIDParam(20), sid, anyType), []step{
			{begin: true},
			{tok: unchanged, handle: testChallenge},
			{tok: func(tk *tokens.Token) { tk.UserID = 20 }, handle: testChallenge},
			{tok: func(tk *tokens.Token) { tk.UserID = 21 }, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrSecureID},
		}},
		{"PerOpMissingToken", keyParams(sid, anyType), []step{
			{begin: true}, // during begin the token may be skipped
			{handle: testChallenge, code: kmproto.ErrorKeyUserNotAuthenticated, reason: ErrNoAuthToken},
		}},
		{"PerOpBeginIgnoresUnrelatedToken", keyParams(sid, anyType), []step{
			{begin: true, tok: func(tk *tokens.Token) { tk.Challenge = 42 }, tamper: func(tk *tokens.Token) { tk.MAC[0] ^= 1 }},
		}},
		{"PerOpMalformedToken", keyParams(sid, anyType), []step{
			{raw: make([]byte, tokens.Size-1), handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrMalformed},
		}},
		{"PerOpWrongVersion", keyParams(sid, anyType), []step{
			{tok: func(tk *tokens.Token) { tk.Version = 1 }, handle: testChallenge,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrVersion},
		}},
		{"AuthAndNoAuth", keyParams(kmproto.UserSecureIDParam(1), kmproto.NoAuthRequiredParam()), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorInvalidKeyBlob},
		}},
		{"NoAuthRequired", keyParams(kmproto.NoAuthRequiredParam()), []step{
			{begin: true},
			{handle: 1},
		}},
		{"LegacyNoAuthTags", keyParams(), []step{
			{begin: true},
			{handle: 1},
		}},
		{"AuthTypeWithoutSid", keyParams(anyType), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorKeyUserNotAuthenticated, reason: ErrNoSecureID},
		}},
		{"TimeoutWithoutSid", keyParams(anyType, timeout1), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorKeyUserNotAuthenticated, reason: ErrNoSecureID},
		}},
		{"TimedAuthSuccess", keyParams(sid, timeout1, anyType), []step{
			{begin: true, tok: unchanged},
			{handle: 12345}, // nothing checked after begin
		}},
		{"TimedAuthTimedOut", keyParams(sid, timeout1, anyType), []step{
			{begin: true, tok: unchanged},
			{begin: true, tok: unchanged, advance: time.Second}, // age == timeout: still good
			{begin: true, tok: unchanged, advance: time.Millisecond,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrExpired},
			{begin: true, tok: unchanged, advance: time.Second,
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrExpired},
		}},
		{"TimedAuthMissingToken", keyParams(sid, timeout1, anyType), []step{
			{begin: true, code: kmproto.ErrorKeyUserNotAuthenticated, reason: ErrNoAuthToken},
		}},
		{"TimedAuthWrongSid", keyParams(kmproto.UserSecureIDParam(10), timeout1, anyType), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrSecureID},
		}},
		{"TimedAuthWrongType", keyParams(sid, timeout1, kmproto.UserAuthTypeParam(tokens.AuthFingerprint)), []step{
			{begin: true, tok: unchanged, code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrAuthenticatorType},
		}},
		{"TimedAuthBadMAC", keyParams(sid, timeout1, anyType), []step{
			{begin: true, tamper: func(tk *tokens.Token) { tk.MAC[31] ^= 0x80 },
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrBadMAC},
		}},
		{"TimedAuthFutureToken", keyParams(sid, timeout1, anyType), []step{
			{begin: true, tok: func(tk *tokens.Token) { tk.Timestamp += 5000 },
				code: kmproto.ErrorKeyUserNotAuthenticated, reason: tokens.ErrFuture},
		}},
		{"TimedAuthMultiSid", keyParams(kmproto.UserSecureIDParam(20), sid, timeout1, anyType), []step{
			{begin: true, tok: func(tk *tokens.Token) { tk.UserID = 20 }},
			{begin: true, tok: func(tk *tokens.Token) { tk.UserID = 0; tk.AuthenticatorID = testUserID }},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := tee.NewFakeClock(testStartMs)
			e := &Enforcer{Clock: clock, MAC: mac}
			pol := PolicyOf(tc.params)
			var auth Authorization
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				var hat []byte
				switch {
				case s.raw != nil:
					hat = s.raw
				case s.tok != nil || s.tamper != nil:
					tk := baseToken()
					m := mac
					if s.badKey {
						m = otherMAC
					}
					if s.tok != nil {
						s.tok(&tk)
					}
					m.Sign(&tk)
					if s.tamper != nil {
						s.tamper(&tk)
					}
					hat = tk.Marshal()
				}
				var err error
				if s.begin {
					auth, err = e.AuthorizeBegin(pol, hat)
				} else {
					if i == 0 {
						auth, err = e.AuthorizeBegin(pol, nil)
						require.NoError(t, err, "implicit begin")
					}
					err = e.AuthorizeUpdateOrFinish(auth, s.handle, hat)
				}
				if s.code == kmproto.ErrorOK {
					require.NoError(t, err, "step %d", i)
					continue
				}
				require.Error(t, err, "step %d", i)
				assert.ErrorIs(t, err, &kmproto.Error{Code: s.code}, "step %d", i)
				if s.reason != nil {
					assert.ErrorIs(t, err, s.reason, "step %d", i)
				}
			}
		})
	}
}

func TestEnforcementNilMACRejects(t *testing.T) {
	e := &Enforcer{Clock: tee.NewFakeClock(testStartMs)}
	tk := baseToken()
	_, err := e.AuthorizeBegin(PolicyOf(keyParams(kmproto.UserSecureIDParam(testUserID), kmproto.UserAuthTypeParam(tokens.AuthAny), kmproto.AuthTimeoutParam(5))), tk.Marshal())
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)
	require.ErrorIs(t, err, tokens.ErrBadMAC)
}
