package fpproto

import (
	"errors"
	"fmt"
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
