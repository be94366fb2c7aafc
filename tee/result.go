package tee

import (
	"errors"
	"fmt"
)

// Result is a TEEC_Result. Values are those of the GlobalPlatform TEE Client
// API Specification v1.0 (GPD_SPE_007) §4.4.2, plus TEEC_ERROR_TARGET_DEAD
// as defined by OP-TEE's tee_client_api.h.
type Result uint32

// TEEC result codes.
const (
	Success              Result = 0x00000000 // TEEC_SUCCESS
	ResultGeneric        Result = 0xFFFF0000 // TEEC_ERROR_GENERIC
	ResultAccessDenied   Result = 0xFFFF0001 // TEEC_ERROR_ACCESS_DENIED
	ResultCancel         Result = 0xFFFF0002 // TEEC_ERROR_CANCEL
	ResultAccessConflict Result = 0xFFFF0003 // TEEC_ERROR_ACCESS_CONFLICT
	ResultExcessData     Result = 0xFFFF0004 // TEEC_ERROR_EXCESS_DATA
	ResultBadFormat      Result = 0xFFFF0005 // TEEC_ERROR_BAD_FORMAT
	ResultBadParameters  Result = 0xFFFF0006 // TEEC_ERROR_BAD_PARAMETERS
	ResultBadState       Result = 0xFFFF0007 // TEEC_ERROR_BAD_STATE
	ResultItemNotFound   Result = 0xFFFF0008 // TEEC_ERROR_ITEM_NOT_FOUND
	ResultNotImplemented Result = 0xFFFF0009 // TEEC_ERROR_NOT_IMPLEMENTED
	ResultNotSupported   Result = 0xFFFF000A // TEEC_ERROR_NOT_SUPPORTED
	ResultNoData         Result = 0xFFFF000B // TEEC_ERROR_NO_DATA
	ResultOutOfMemory    Result = 0xFFFF000C // TEEC_ERROR_OUT_OF_MEMORY
	ResultBusy           Result = 0xFFFF000D // TEEC_ERROR_BUSY
	ResultCommunication  Result = 0xFFFF000E // TEEC_ERROR_COMMUNICATION
	ResultSecurity       Result = 0xFFFF000F // TEEC_ERROR_SECURITY
	ResultShortBuffer    Result = 0xFFFF0010 // TEEC_ERROR_SHORT_BUFFER
	ResultExternalCancel Result = 0xFFFF0011 // TEEC_ERROR_EXTERNAL_CANCEL
	ResultTargetDead     Result = 0xFFFF3024 // TEEC_ERROR_TARGET_DEAD (OP-TEE)
)

var resultNames = map[Result]string{
	Success:              "TEEC_SUCCESS",
	ResultGeneric:        "TEEC_ERROR_GENERIC",
	ResultAccessDenied:   "TEEC_ERROR_ACCESS_DENIED",
	ResultCancel:         "TEEC_ERROR_CANCEL",
	ResultAccessConflict: "TEEC_ERROR_ACCESS_CONFLICT",
	ResultExcessData:     "TEEC_ERROR_EXCESS_DATA",
	ResultBadFormat:      "TEEC_ERROR_BAD_FORMAT",
	ResultBadParameters:  "TEEC_ERROR_BAD_PARAMETERS",
	ResultBadState:       "TEEC_ERROR_BAD_STATE",
	ResultItemNotFound:   "TEEC_ERROR_ITEM_NOT_FOUND",
	ResultNotImplemented: "TEEC_ERROR_NOT_IMPLEMENTED",
	ResultNotSupported:   "TEEC_ERROR_NOT_SUPPORTED",
	ResultNoData:         "TEEC_ERROR_NO_DATA",
	ResultOutOfMemory:    "TEEC_ERROR_OUT_OF_MEMORY",
	ResultBusy:           "TEEC_ERROR_BUSY",
	ResultCommunication:  "TEEC_ERROR_COMMUNICATION",
	ResultSecurity:       "TEEC_ERROR_SECURITY",
	ResultShortBuffer:    "TEEC_ERROR_SHORT_BUFFER",
	ResultExternalCancel: "TEEC_ERROR_EXTERNAL_CANCEL",
	ResultTargetDead:     "TEEC_ERROR_TARGET_DEAD",
}

// String returns the GP name, or the hex value for codes GP does not name
// (TA-defined codes are legal).
func (r Result) String() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(r))
}

// Origin is a TEEC return origin (GPD_SPE_007 §4.4.3): which layer produced
// a Result.
type Origin uint32

// TEEC return origins.
const (
	OriginAPI        Origin = 1 // TEEC_ORIGIN_API: the client library
	OriginComms      Origin = 2 // TEEC_ORIGIN_COMMS: the REE↔TEE transport
	OriginTEE        Origin = 3 // TEEC_ORIGIN_TEE: the TEE core (TA host)
	OriginTrustedApp Origin = 4 // TEEC_ORIGIN_TRUSTED_APP: the TA itself
)

// String returns the GP name of the origin.
func (o Origin) String() string {
	switch o {
	case OriginAPI:
		return "TEEC_ORIGIN_API"
	case OriginComms:
		return "TEEC_ORIGIN_COMMS"
	case OriginTEE:
		return "TEEC_ORIGIN_TEE"
	case OriginTrustedApp:
		return "TEEC_ORIGIN_TRUSTED_APP"
	}
	return fmt.Sprintf("origin(%d)", uint32(o))
}

// Error is a non-success TEEC result with its origin. errors.Is(err, target)
// is true when target is an *Error with the same Code (origin and detail are
// ignored), so callers write errors.Is(err, tee.ErrShortBuffer).
type Error struct {
	Code   Result
	Origin Origin
	// Detail is a human explanation. It must never contain secret material.
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s (%s)", e.Code, e.Origin)
	}
	return fmt.Sprintf("%s (%s): %s", e.Code, e.Origin, e.Detail)
}

// Is matches on Code only.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Errorf builds an *Error with a formatted detail.
func Errorf(code Result, origin Origin, format string, args ...any) *Error {
	return &Error{Code: code, Origin: origin, Detail: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is. Their Origin is irrelevant to matching.
var (
	ErrGeneric        = &Error{Code: ResultGeneric}
	ErrAccessDenied   = &Error{Code: ResultAccessDenied}
	ErrBadFormat      = &Error{Code: ResultBadFormat}
	ErrBadParameters  = &Error{Code: ResultBadParameters}
	ErrBadState       = &Error{Code: ResultBadState}
	ErrItemNotFound   = &Error{Code: ResultItemNotFound}
	ErrNotImplemented = &Error{Code: ResultNotImplemented}
	ErrNotSupported   = &Error{Code: ResultNotSupported}
	ErrBusy           = &Error{Code: ResultBusy}
	ErrCommunication  = &Error{Code: ResultCommunication}
	ErrSecurity       = &Error{Code: ResultSecurity}
	ErrShortBuffer    = &Error{Code: ResultShortBuffer}
	ErrTargetDead     = &Error{Code: ResultTargetDead}
)

// ResultOf extracts the TEEC result from err: Success for nil, the Code of
// an *Error anywhere in the chain, ResultGeneric otherwise.
func ResultOf(err error) Result {
	if err == nil {
		return Success
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ResultGeneric
}
