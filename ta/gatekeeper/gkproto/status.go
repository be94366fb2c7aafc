package gkproto

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Status is a Gatekeeper HAL status code: the values of HIDL
// android.hardware.gatekeeper@1.0 GatekeeperStatusCode and the AIDL
// IGatekeeper constants (identical). It travels as an int32 in a VALUE
// parameter.
type Status int32

// Gatekeeper HAL status codes.
const (
	StatusOK            Status = 0  // STATUS_OK
	StatusReenroll      Status = 1  // STATUS_REENROLL: verified, but the handle should be re-enrolled
	ErrorGeneralFailure Status = -1 // ERROR_GENERAL_FAILURE (libgatekeeper ERROR_INVALID / ERROR_UNKNOWN)
	ErrorRetryTimeout   Status = -2 // ERROR_RETRY_TIMEOUT (libgatekeeper ERROR_RETRY): wait the retry timeout
	ErrorNotImplemented Status = -3 // ERROR_NOT_IMPLEMENTED
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "STATUS_OK"
	case StatusReenroll:
		return "STATUS_REENROLL"
	case ErrorGeneralFailure:
		return "ERROR_GENERAL_FAILURE"
	case ErrorRetryTimeout:
		return "ERROR_RETRY_TIMEOUT"
	case ErrorNotImplemented:
		return "ERROR_NOT_IMPLEMENTED"
	}
	return "gatekeeper_status(" + strconv.Itoa(int(s)) + ")"
}

// Sentinels for the non-OK statuses; Status.Err returns errors matching them.
var (
	ErrGeneralFailure = errors.New("gatekeeper: ERROR_GENERAL_FAILURE")
	ErrRetryTimeout   = errors.New("gatekeeper: ERROR_RETRY_TIMEOUT")
	ErrNotImplemented = errors.New("gatekeeper: ERROR_NOT_IMPLEMENTED")
	ErrUnknownStatus  = errors.New("gatekeeper: unknown status")
)

// RetryError is the error of an ERROR_RETRY_TIMEOUT answer: the caller must
// wait Timeout before the next attempt counts. errors.Is(err,
// ErrRetryTimeout) holds.
type RetryError struct {
	Timeout time.Duration
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v: retry in %v", ErrRetryTimeout, e.Timeout)
}

// Is reports whether target is ErrRetryTimeout.
func (e *RetryError) Is(target error) bool { return target == ErrRetryTimeout }

// Err converts s into an error: nil for STATUS_OK and STATUS_REENROLL (both
// are successes), a *RetryError carrying retryMs for ERROR_RETRY_TIMEOUT, and
// the matching sentinel otherwise.
func (s Status) Err(retryMs uint32) error {
	switch s {
	case StatusOK, StatusReenroll:
		return nil
	case ErrorGeneralFailure:
		return ErrGeneralFailure
	case ErrorRetryTimeout:
		return &RetryError{Timeout: time.Duration(retryMs) * time.Millisecond}
	case ErrorNotImplemented:
		return ErrNotImplemented
	}
	return fmt.Errorf("%w %d", ErrUnknownStatus, int32(s))
}
