package attack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// opError is a fingerprint operation (enroll, authenticate) that ended with
// an ERROR event: the way the fingerprint TA refuses (docs/protocol.md §9.4).
// errors.Is matches another *opError with the same FingerprintError.
type opError struct {
	Code   fpproto.Error
	Reason fpproto.Reason // 0 when unknown (the HIDL north API drops it)
}

func (e *opError) Error() string {
	if e.Reason == fpproto.ReasonNone {
		return e.Code.String()
	}
	return fmt.Sprintf("%v (%v)", e.Code, e.Reason)
}

// Unwrap is the fingerprint package's typed error for the code and reason
// (fpproto.ReasonError), so errors.Is sees e.g. ErrNotGroupOwner.
func (e *opError) Unwrap() error { return fpproto.ReasonError(e.Code, e.Reason) }

// Is matches on Code only.
func (e *opError) Is(target error) bool {
	t, ok := target.(*opError)
	return ok && t.Code == e.Code
}

// Operation outcomes, for errors.Is.
var (
	errUnableToProcess = &opError{Code: fpproto.ErrorUnableToProcess}
	errHWUnavailable   = &opError{Code: fpproto.ErrorHWUnavailable}
	errCanceled        = &opError{Code: fpproto.ErrorCanceled}
)

// errNoMatch: an authentication ended without a match (AUTHENTICATED with
// finger id 0 and no HAT, then cancelled).
var errNoMatch = errors.New("no match (AUTHENTICATED fid 0, no HAT)")

// paymentNames names the payment TA's own result codes.
var paymentNames = map[tee.Result]string{
	payproto.ResultNotAuthorized:  "PAYMENT_NOT_AUTHORIZED",
	payproto.ResultAuthExpired:    "PAYMENT_AUTH_EXPIRED",
	payproto.ResultKeyInvalidated: "PAYMENT_KEY_INVALIDATED",
	payproto.ResultNoFingers:      "PAYMENT_NO_FINGERS",
}

// describe names an answer the way a reader of the protocol would: the
// Keymaster error, the TEEC result, the fingerprint error event.
func describe(err error) string {
	if err == nil {
		return "success"
	}
	var ke *kmproto.Error
	if errors.As(err, &ke) {
		return ke.Code.String()
	}
	var oe *opError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var he *fpproto.HATError
	if errors.As(err, &he) {
		return (&opError{Code: he.Code, Reason: he.Reason}).Error()
	}
	var te *tee.Error
	if errors.As(err, &te) {
		if n, ok := paymentNames[te.Code]; ok {
			return n
		}
		return te.Code.String()
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func describeAll(errs []error) string {
	names := make([]string, len(errs))
	for i, e := range errs {
		names[i] = describe(e)
	}
	return strings.Join(names, " or ")
}
