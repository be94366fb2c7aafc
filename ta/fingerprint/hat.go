package fingerprint

import (
	"errors"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// hatEvent is the ERROR event reporting a refused HAT.
func hatEvent(e *fpproto.HATError) fpproto.Event {
	return fpproto.ErrorEvent(e.Code, 0, uint32(e.Reason))
}

// notOwner is the refusal of a HAT whose user_id is not the group's SID.
func notOwner() *fpproto.HATError {
	return &fpproto.HATError{Code: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATUser, Err: fpproto.ErrNotGroupOwner}
}

// reasonOf maps a tokens.Verifier failure to the check that failed.
func reasonOf(err error) fpproto.Reason {
	switch {
	case errors.Is(err, tokens.ErrMalformed):
		return fpproto.ReasonHATMalformed
	case errors.Is(err, tokens.ErrVersion):
		return fpproto.ReasonHATVersion
	case errors.Is(err, tokens.ErrBadMAC):
		return fpproto.ReasonHATMAC
	case errors.Is(err, tokens.ErrChallenge):
		return fpproto.ReasonHATChallenge
	case errors.Is(err, tokens.ErrAuthenticatorType):
		return fpproto.ReasonHATAuthType
	case errors.Is(err, tokens.ErrExpired), errors.Is(err, tokens.ErrFuture):
		return fpproto.ReasonHATStale
	}
	return fpproto.ReasonInternal
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
	mac := t.AuthTokenMAC()
	if mac == nil {
		return tokens.Token{}, &fpproto.HATError{Code: fpproto.ErrorHWUnavailable, Reason: fpproto.ReasonNoAuthTokenKey}
	}
	now := t.Clock.NowMs()
	v := tokens.NewVerifier(mac).
		WithAuthenticatorTypes(tokens.AuthPassword).
		WithFreshness(now, t.hatMaxAge)
	refuse := func(err error) (tokens.Token, error) {
		return tokens.Token{}, &fpproto.HATError{Code: fpproto.ErrorUnableToProcess, Reason: reasonOf(err), Err: err}
	}
	if withChallenge {
		c, ok := t.outstandingChallenge(now)
		if !ok {
			// Version and MAC come first, as with an outstanding challenge;
			// then the missing challenge is the failure.
			if _, err := tokens.NewVerifier(mac).Verify(hat); err != nil {
				return refuse(err)
			}
			return tokens.Token{}, &fpproto.HATError{Code: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATChallenge, Err: fpproto.ErrNoChallenge}
		}
		v = v.WithChallenge(c)
	}
	tok, err := v.Verify(hat)
	if err != nil {
		return refuse(err)
	}
	return tok, nil
}
