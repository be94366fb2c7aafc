package kmproto

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// ErrorCode is keymaster_error_t (hardware/libhardware keymaster_defs.h;
// AIDL android.hardware.security.keymint.ErrorCode): 0 is success, every
// failure a negative int32. Only the codes this TA returns are named; the
// numbers are AOSP's.
type ErrorCode int32

// keymaster_error_t values returned by the Keymaster TA.
const (
	ErrorOK                          ErrorCode = 0     // KM_ERROR_OK
	ErrorUnsupportedPurpose          ErrorCode = -2    // KM_ERROR_UNSUPPORTED_PURPOSE
	ErrorIncompatiblePurpose         ErrorCode = -3    // KM_ERROR_INCOMPATIBLE_PURPOSE
	ErrorUnsupportedAlgorithm        ErrorCode = -4    // KM_ERROR_UNSUPPORTED_ALGORITHM
	ErrorUnsupportedKeySize          ErrorCode = -6    // KM_ERROR_UNSUPPORTED_KEY_SIZE
	ErrorUnsupportedDigest           ErrorCode = -12   // KM_ERROR_UNSUPPORTED_DIGEST
	ErrorIncompatibleDigest          ErrorCode = -13   // KM_ERROR_INCOMPATIBLE_DIGEST
	ErrorInvalidAuthorizationTimeout ErrorCode = -16   // KM_ERROR_INVALID_AUTHORIZATION_TIMEOUT
	ErrorKeyUserNotAuthenticated     ErrorCode = -26   // KM_ERROR_KEY_USER_NOT_AUTHENTICATED
	ErrorInvalidOperationHandle      ErrorCode = -28   // KM_ERROR_INVALID_OPERATION_HANDLE
	ErrorTooManyOperations           ErrorCode = -31   // KM_ERROR_TOO_MANY_OPERATIONS
	ErrorInvalidKeyBlob              ErrorCode = -33   // KM_ERROR_INVALID_KEY_BLOB
	ErrorInvalidArgument             ErrorCode = -38   // KM_ERROR_INVALID_ARGUMENT
	ErrorUnsupportedTag              ErrorCode = -39   // KM_ERROR_UNSUPPORTED_TAG
	ErrorInvalidTag                  ErrorCode = -40   // KM_ERROR_INVALID_TAG
	ErrorUnsupportedECCurve          ErrorCode = -61   // KM_ERROR_UNSUPPORTED_EC_CURVE
	ErrorUnimplemented               ErrorCode = -100  // KM_ERROR_UNIMPLEMENTED
	ErrorUnknownError                ErrorCode = -1000 // KM_ERROR_UNKNOWN_ERROR
)

var errorNames = map[ErrorCode]string{
	ErrorOK:                          "KM_ERROR_OK",
	ErrorUnsupportedPurpose:          "KM_ERROR_UNSUPPORTED_PURPOSE",
	ErrorIncompatiblePurpose:         "KM_ERROR_INCOMPATIBLE_PURPOSE",
	ErrorUnsupportedAlgorithm:        "KM_ERROR_UNSUPPORTED_ALGORITHM",
	ErrorUnsupportedKeySize:          "KM_ERROR_UNSUPPORTED_KEY_SIZE",
	ErrorUnsupportedDigest:           "KM_ERROR_UNSUPPORTED_DIGEST",
	ErrorIncompatibleDigest:          "KM_ERROR_INCOMPATIBLE_DIGEST",
	ErrorInvalidAuthorizationTimeout: "KM_ERROR_INVALID_AUTHORIZATION_TIMEOUT",
	ErrorKeyUserNotAuthenticated:     "KM_ERROR_KEY_USER_NOT_AUTHENTICATED",
	ErrorInvalidOperationHandle:      "KM_ERROR_INVALID_OPERATION_HANDLE",
	ErrorTooManyOperations:           "KM_ERROR_TOO_MANY_OPERATIONS",
	ErrorInvalidKeyBlob:              "KM_ERROR_INVALID_KEY_BLOB",
	ErrorInvalidArgument:             "KM_ERROR_INVALID_ARGUMENT",
	ErrorUnsupportedTag:              "KM_ERROR_UNSUPPORTED_TAG",
	ErrorInvalidTag:                  "KM_ERROR_INVALID_TAG",
	ErrorUnsupportedECCurve:          "KM_ERROR_UNSUPPORTED_EC_CURVE",
	ErrorUnimplemented:               "KM_ERROR_UNIMPLEMENTED",
	ErrorUnknownError:                "KM_ERROR_UNKNOWN_ERROR",
}

// String returns the AOSP name (KM_ERROR_...) or the decimal value.
func (c ErrorCode) String() string {
	if n, ok := errorNames[c]; ok {
		return n
	}
	return fmt.Sprintf("keymaster_error(%d)", int32(c))
}

// ResultBase is the TEEC result prefix of Keymaster errors: a command that
// fails with keymaster_error_t c < 0 answers TEEC result ResultBase | -c
// with origin TEEC_ORIGIN_TRUSTED_APP, e.g. KEY_USER_NOT_AUTHENTICATED (-26)
// is 0x4B4D001A. 0x4B4D ("KM") lies in the range GPD_SPE_007 §4.4.2 leaves
// to implementations (0x00000001–0xFFFEFFFF), so it collides with no GP
// code. See docs/protocol.md, "Keymaster TA commands".
const ResultBase tee.Result = 0x4B4D0000

// Result returns the TEEC result that carries c on the wire: tee.Success
// for ErrorOK, ResultBase|-c for a failure. Codes outside -0xFFFF..0 (none
// in AOSP) become KM_ERROR_UNKNOWN_ERROR.
func (c ErrorCode) Result() tee.Result {
	switch {
	case c == ErrorOK:
		return tee.Success
	case c < 0 && c >= -0xFFFF:
		return ResultBase | tee.Result(uint32(-c))
	}
	return ErrorUnknownError.Result()
}

// CodeOf returns the Keymaster error carried by TEEC result r, if r is one
// (r & 0xFFFF0000 == ResultBase and the low half is non-zero).
func CodeOf(r tee.Result) (ErrorCode, bool) {
	if r&0xFFFF0000 != ResultBase || r&0xFFFF == 0 {
		return 0, false
	}
	return -ErrorCode(r & 0xFFFF), true
}

// Error is a command-level Keymaster failure. errors.Is(err, target) is true
// when target is an *Error with the same Code, so callers write
// errors.Is(err, kmproto.ErrKeyUserNotAuthenticated). Inside the TA an
// Error may wrap the precise reason (e.g. tokens.ErrChallenge), reachable
// with errors.Is as well; the reason never crosses the wire.
type Error struct {
	Code ErrorCode
	// Detail is a human explanation; it never contains secret material.
	Detail string
	// Err is the underlying reason, if any.
	Err error
}

func (e *Error) Error() string {
	msg := e.Code.String()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying reason.
func (e *Error) Unwrap() error { return e.Err }

// Is matches an *Error target on Code only.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrUnsupportedPurpose          = &Error{Code: ErrorUnsupportedPurpose}
	ErrIncompatiblePurpose         = &Error{Code: ErrorIncompatiblePurpose}
	ErrUnsupportedAlgorithm        = &Error{Code: ErrorUnsupportedAlgorithm}
	ErrUnsupportedKeySize          = &Error{Code: ErrorUnsupportedKeySize}
	ErrUnsupportedDigest           = &Error{Code: ErrorUnsupportedDigest}
	ErrIncompatibleDigest          = &Error{Code: ErrorIncompatibleDigest}
	ErrInvalidAuthorizationTimeout = &Error{Code: ErrorInvalidAuthorizationTimeout}
	ErrKeyUserNotAuthenticated     = &Error{Code: ErrorKeyUserNotAuthenticated}
	ErrInvalidOperationHandle      = &Error{Code: ErrorInvalidOperationHandle}
	ErrTooManyOperations           = &Error{Code: ErrorTooManyOperations}
	ErrInvalidKeyBlob              = &Error{Code: ErrorInvalidKeyBlob}
	ErrInvalidArgument             = &Error{Code: ErrorInvalidArgument}
	ErrUnsupportedTag              = &Error{Code: ErrorUnsupportedTag}
	ErrInvalidTag                  = &Error{Code: ErrorInvalidTag}
	ErrUnsupportedECCurve          = &Error{Code: ErrorUnsupportedECCurve}
	ErrUnimplemented               = &Error{Code: ErrorUnimplemented}
	ErrUnknownError                = &Error{Code: ErrorUnknownError}
)

// FromTEE converts what the transport returned into the client's error: a
// *tee.Error carrying a Keymaster code becomes *Error (wrapping the
// *tee.Error, so both errors.Is checks work); anything else is returned
// unchanged.
func FromTEE(err error) error {
	if err == nil {
		return nil
	}
	var te *tee.Error
	if errors.As(err, &te) {
		if code, ok := CodeOf(te.Code); ok {
			return &Error{Code: code, Err: te}
		}
	}
	return err
}
