package tokens

import (
	"fmt"
	"time"
)

// DefaultClockSkew is how far in the future (relative to the caller's now) a
// token's timestamp may be before it is rejected with ErrFuture. Tokens are
// stamped with the same per-device boot clock the verifier reads, so only
// read-order jitter between processes is expected; one second covers it.
const DefaultClockSkew = time.Second

// Verifier is the auth-token policy: which tokens an operation accepts. It is
// separate from parsing (Parse accepts any 69 bytes). A Verifier is an
// immutable value: the With* methods return a modified copy, so one base
// Verifier per key can be specialised per operation without locking, and
// verification neither allocates nor mutates it.
//
// Checks run in this order, and the first failure is returned:
//
//  1. version == 0                                   ErrVersion
//  2. MAC                                            ErrBadMAC
//  3. challenge (if set by WithChallenge)            ErrChallenge
//  4. authenticator type (WithAuthenticatorTypes)    ErrAuthenticatorType
//  5. secure IDs (WithSecureIDs)                     ErrSecureID
//  6. freshness (WithFreshness)                      ErrExpired, ErrFuture
//
// This is the order of keymaster_enforcement.cpp GetAndValidateAuthToken
// (version, then signature) followed by the policy checks of AuthTokenMatches
// and KMR check_auth_token; every failure in AOSP maps to
// KEY_USER_NOT_AUTHENTICATED (-26), here each rule has its own error.
type Verifier struct {
	mac *MAC

	checkChallenge bool
	challenge      uint64

	checkType bool
	typeMask  AuthenticatorType

	checkSIDs bool
	sids      []uint64 // owned copy, never mutated after construction

	checkFresh bool
	nowMS      uint64
	timeoutMS  uint64
	skewMS     uint64
}

// NewVerifier returns a Verifier that checks the version and the MAC under m.
// Add policy with the With* methods. A Verifier with a nil MAC rejects every
// token with ErrBadMAC.
func NewVerifier(m *MAC) Verifier {
	return Verifier{mac: m, skewMS: uint64(DefaultClockSkew / time.Millisecond)}
}

// WithChallenge requires token.challenge == c: the operation handle of an
// auth-per-operation key (keymaster_enforcement.cpp AuthTokenMatches:
// "op_handle != token->challenge" fails; KMR check_auth_token; IKeyMintOperation:
// challenge == BeginResult.challenge) or the pre-enroll challenge of an enroll
// (fingerprint HAL enroll: the HAT must carry the preEnroll challenge).
func (v Verifier) WithChallenge(c uint64) Verifier {
	v.checkChallenge, v.challenge = true, c
	return v
}

// WithAuthenticatorTypes requires token.authenticator_type & mask != 0
// (Tag USER_AUTH_TYPE; AuthTokenMatches "(key_auth_type_mask & token_auth_type)
// == 0" fails; KMR check_auth_token; keystore2 AuthTokenEntry::satisfies).
// A mask of AuthNone therefore rejects every token.
func (v Verifier) WithAuthenticatorTypes(mask AuthenticatorType) Verifier {
	v.checkType, v.typeMask = true, mask
	return v
}

// WithSecureIDs requires that at least one of sids equals token.user_id or
// token.authenticator_id (Tag USER_SECURE_ID, repeatable: "any one match
// suffices"; AuthTokenMatches "user_secure_id != token->user_id &&
// user_secure_id != token->authenticator_id" fails). sids is copied. Calling
// it with no SIDs rejects every token (fail closed).
func (v Verifier) WithSecureIDs(sids ...uint64) Verifier {
	v.checkSIDs = true
	v.sids = append([]uint64(nil), sids...)
	return v
}

// WithFreshness requires the token to be at most timeout old at nowMS
// (milliseconds on the same boot clock that stamped the token): expired iff
// nowMS - timestamp > timeout, the rule of Tag AUTH_TIMEOUT (Trusty
// auth_token_timed_out: "(now_ms - token_ms) > timeout_ms"; KMR: "now >
// timestamp + 1000*timeout"). A timestamp later than nowMS by more than the
// clock skew (DefaultClockSkew unless WithClockSkew) is ErrFuture: AOSP lets
// such tokens through (Trusty checks now_ms >= token_ms first), fpemu does
// not, since one boot clock stamps and checks them. A negative timeout is
// treated as zero; timeouts are truncated to whole milliseconds.
func (v Verifier) WithFreshness(nowMS uint64, timeout time.Duration) Verifier {
	v.checkFresh, v.nowMS = true, nowMS
	v.timeoutMS = durationMS(timeout)
	return v
}

// WithClockSkew sets how far in the future a timestamp may be (see
// WithFreshness). A negative skew is treated as zero.
func (v Verifier) WithClockSkew(skew time.Duration) Verifier {
	v.skewMS = durationMS(skew)
	return v
}

func durationMS(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

// Verify parses b (exactly Size bytes, see Parse) and checks it against the
// policy. On success it returns the token; on any failure the zero Token and
// an error matching exactly one sentinel (ErrMalformed, ErrVersion, ErrBadMAC,
// ErrChallenge, ErrAuthenticatorType, ErrSecureID, ErrExpired, ErrFuture).
// On success it does not allocate.
func (v Verifier) Verify(b []byte) (Token, error) {
	t, err := Parse(b)
	if err != nil {
		return Token{}, err
	}
	if err := v.verify(&t, b); err != nil {
		return Token{}, err
	}
	return t, nil
}

// VerifyToken checks an already parsed token against the policy; see Verify.
func (v Verifier) VerifyToken(t *Token) error {
	return v.verify(t, nil)
}

// verify runs the checks in AOSP order. raw, when not nil, is the exact
// 69-byte encoding t was parsed from; the MAC is then computed over it in
// place (same bytes, fewer copies).
func (v *Verifier) verify(t *Token, raw []byte) error {
	// keymaster_enforcement.cpp GetAndValidateAuthToken:
	// "token->version != HW_AUTH_TOKEN_VERSION" → KEY_USER_NOT_AUTHENTICATED.
	if t.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrVersion, t.Version, Version)
	}
	// GetAndValidateAuthToken → ValidateTokenSignature (Trusty: HMAC-SHA256
	// over offsetof(hmac) bytes, memcmp_s); KMR check_auth_token verifies the
	// HMAC before any policy check.
	if v.mac == nil {
		return fmt.Errorf("%w: verifier has no MAC key", ErrBadMAC)
	}
	var err error
	if raw != nil {
		err = v.mac.checkRaw(raw)
	} else {
		err = v.mac.Check(t)
	}
	if err != nil {
		return err
	}
	if v.checkChallenge && t.Challenge != v.challenge {
		return fmt.Errorf("%w: token challenge %d, want %d", ErrChallenge, t.Challenge, v.challenge)
	}
	if v.checkType && t.AuthenticatorType&v.typeMask == 0 {
		return fmt.Errorf("%w: token type %s (%d), required mask %s (%d)",
			ErrAuthenticatorType, t.AuthenticatorType, uint32(t.AuthenticatorType), v.typeMask, uint32(v.typeMask))
	}
	if v.checkSIDs && !v.sidMatches(t) {
		return fmt.Errorf("%w: user_id %d and authenticator_id %d match none of %d required SIDs",
			ErrSecureID, t.UserID, t.AuthenticatorID, len(v.sids))
	}
	if v.checkFresh {
		if t.Timestamp > v.nowMS {
			if ahead := t.Timestamp - v.nowMS; ahead > v.skewMS {
				return fmt.Errorf("%w: timestamp %d ms is %d ms after now %d ms (skew allowed %d ms)",
					ErrFuture, t.Timestamp, ahead, v.nowMS, v.skewMS)
			}
		} else if age := v.nowMS - t.Timestamp; age > v.timeoutMS {
			return fmt.Errorf("%w: age %d ms exceeds timeout %d ms (timestamp %d, now %d)",
				ErrExpired, age, v.timeoutMS, t.Timestamp, v.nowMS)
		}
	}
	return nil
}

func (v *Verifier) sidMatches(t *Token) bool {
	for _, sid := range v.sids {
		if sid == t.UserID || sid == t.AuthenticatorID {
			return true
		}
	}
	return false
}
