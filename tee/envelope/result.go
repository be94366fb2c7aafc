package envelope

import (
	"errors"

	"github.com/fpemu/fpemu/tee"
)

// TEEResult returns the TEEC result with which a recipient TA answers a
// command whose envelope Open refused, by the check that refused it
// (docs/protocol.md §3.3, shared by every TA that accepts envelopes):
//
//	ErrMalformed                                    TEEC_ERROR_BAD_FORMAT
//	ErrWrongRecipient, ErrUnknownSender, ErrBadType TEEC_ERROR_ACCESS_DENIED
//	ErrAuth, ErrReplay                              TEEC_ERROR_SECURITY
//
// ok is false for nil and for any other error (a replay guard whose store
// failed, a Seal error): the TA maps those itself, typically to
// TEEC_ERROR_GENERIC with the cause kept in its log.
func TEEResult(err error) (code tee.Result, ok bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, ErrMalformed):
		return tee.ResultBadFormat, true
	case errors.Is(err, ErrWrongRecipient), errors.Is(err, ErrUnknownSender), errors.Is(err, ErrBadType):
		return tee.ResultAccessDenied, true
	case errors.Is(err, ErrAuth), errors.Is(err, ErrReplay):
		return tee.ResultSecurity, true
	}
	return 0, false
}
