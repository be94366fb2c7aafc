package fingerprint

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tokens"
)

// HATError is a refused HAT: the AOSP error the HAL reports and fpemu's
// reason (which check failed). Err is the tokens error behind it, if any.
type HATError struct {
	Code   Error
	Reason Reason
	Err    error
}

func (e *HATError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("fingerprint: HAT refused (%v): %s: %v", e.Code, e.Reason, e.Err)
	}
	return fmt.Sprintf("fingerprint: HAT refused (%v): %s", e.Code, e.Reason)
}

func (e *HATError) Unwrap() error { return e.Err }

// event is the ERROR event reporting e.
func (e *HATError) event() Event { return errorEvent(e.Code, 0, uint32(e.Reason)) }

// ErrNoChallenge is behind a HATError with ReasonHATChallenge when no
// PRE_ENROLL challenge is outstanding (none issued, expired, or invalidated
// by POST_ENROLL).
var ErrNoChallenge = errors.New("fingerprint: no outstanding pre_enroll challenge")

// ErrNotGroupOwner is behind a HATError with ReasonHATUser: the PASSWORD
// HAT's user_id is not the SID bound to the group's templates, so its
// Gatekeeper user does not own the group. ENROLL into a group bound to
// another SID and RESET_LOCKOUT of such a group are refused with it
// (AIDL ISession.resetLockout: "the HAT's userId must match the user of
// the session"; a group is one Android user's templates, and the SID
// stands for that user).
var ErrNotGroupOwner = errors.New("fingerprint: HAT user_id is not the SID bound to the group")

// ReasonError returns the typed error behind an ERROR event or a
// RESET_LOCKOUT answer as the REE receives them (the AOSP code and
// fpemu's reason): nil for ERROR_NO_ERROR, else a *HATError whose Err is
// the sentinel of the reason where there is one (ErrNotGroupOwner,
// ErrNoChallenge is not recoverable from the wire and stays nil).
func ReasonError(code Error, r Reason) error {
	if code == ErrorNoError {
		return nil
	}
	e := &HATError{Code: code, Reason: r}
	if r == ReasonHATUser {
		e.Err = ErrNotGroupOwner
	}
	return e
}

// notOwner is the refusal of a HAT whose user_id is not the group's SID.
func notOwner() *HATError {
	return &HATError{Code: ErrorUnableToProcess, Reason: ReasonHATUser, Err: ErrNotGroupOwner}
}

// reasonOf maps a tokens.Verifier failure to the check that failed.
func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, tokens.ErrMalformed):
		return ReasonHATMalformed
	case errors.Is(err, tokens.ErrVersion):
		return ReasonHATVersion
	case errors.Is(err, tokens.ErrBadMAC):
		return ReasonHATMAC
	case errors.Is(err, tokens.ErrChallenge):
		return ReasonHATChallenge
	case errors.Is(err, tokens.ErrAuthenticatorType):
		return ReasonHATAuthType
	case errors.Is(err, tokens.ErrExpired), errors.Is(err, tokens.ErrFuture):
		return ReasonHATStale
	}
	return ReasonInternal
}

// checkPasswordHAT verifies a PASSWORD HAT in the order ENROLL requires
// (docs/protocol.md §9.5; QSEE's published enroll checks and AIDL
// ISession.enroll "verify the HAT's authenticity and integrity and that its
// challenge is a valid outstanding challenge"):
//
//  0. the auth-token key has arrived (else ERROR_HW_UNAVAILABLE: fail closed)
//  1. 69 bytes                          tokens.Parse
//  2. version 0                         tokens.Verifier
//  3. HMAC under the auth-token key     tokens.Verifier (constant time)
//  4. challenge = the outstanding one   tokens.Verifier.WithChallenge (when withChallenge)
//  5. authenticator type has PASSWORD   tokens.Verifier.WithAuthenticatorTypes
//  6. fresh: at most HATMaxAge old      tokens.Verifier.WithFreshness
//
// RESET_LOCKOUT runs the same checks without 4 (AIDL resetLockout asks for
// authenticity and recency only). Every refusal of checks 1–6 is
// ERROR_UNABLE_TO_PROCESS, as AIDL specifies.
func (t *TA) checkPasswordHAT(hat []byte, withChallenge bool) (tokens.Token, error) {
	mac := t.currentMAC()
	if mac == nil {
		return tokens.Token{}, &HATError{Code: ErrorHWUnavailable, Reason: ReasonNoAuthTokenKey}
	}
	now := t.clock.NowMs()
	v := tokens.NewVerifier(mac).
		WithAuthenticatorTypes(tokens.AuthPassword).
		WithFreshness(now, t.hatMaxAge)
	refuse := func(err error) (tokens.Token, error) {
		return tokens.Token{}, &HATError{Code: ErrorUnableToProcess, Reason: reasonOf(err), Err: err}
	}
	if withChallenge {
		c, ok := t.outstandingChallenge(now)
		if !ok {
			// Version and MAC come first, as with an outstanding challenge;
			// then the missing challenge is the failure.
			if _, err := tokens.NewVerifier(mac).Verify(hat); err != nil {
				return refuse(err)
			}
			return tokens.Token{}, &HATError{Code: ErrorUnableToProcess, Reason: ReasonHATChallenge, Err: ErrNoChallenge}
		}
		v = v.WithChallenge(c)
	}
	tok, err := v.Verify(hat)
	if err != nil {
		return refuse(err)
	}
	return tok, nil
}
