package chanwire

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per rule a decoder enforces (docs/protocol.md §11.9).
// Every error of this package wraps exactly one of them inside a
// *FormatError.
var (
	// ErrTruncated: the input ends before a header or field is complete.
	ErrTruncated = errors.New("chanwire: truncated")
	// ErrTrailing: bytes remain after the last field.
	ErrTrailing = errors.New("chanwire: trailing bytes")
	// ErrVersion: the header's version is not Version.
	ErrVersion = errors.New("chanwire: unsupported version")
	// ErrUnknownProfile: the header names no profile of this version.
	ErrUnknownProfile = errors.New("chanwire: unknown profile")
	// ErrUnknownType: the header names no message type, or a type that the
	// profile does not use.
	ErrUnknownType = errors.New("chanwire: unknown message type")
	// ErrUnexpectedType: a well-formed message of another type than the
	// decoder reads (e.g. a record given to ParseClientHello).
	ErrUnexpectedType = errors.New("chanwire: unexpected message type")
	// ErrLength: the header's body length disagrees with the input, or a
	// field's length is outside its documented bounds for the profile.
	ErrLength = errors.New("chanwire: bad length")
	// ErrTooLarge: a body or field exceeds its documented maximum.
	ErrTooLarge = errors.New("chanwire: too large")
	// ErrField: a field's value is not allowed (a zero-length identity, a
	// duplicated or unknown offered profile, an unknown TLV tag or a TLV out
	// of order, a sealed-blob mode that does not exist).
	ErrField = errors.New("chanwire: bad field")
)

// FormatError is the error every decoder and encoder returns: which
// message and which field broke which rule (Err, one of the sentinels).
// It never carries the message's bytes.
type FormatError struct {
	Msg   string // message name, e.g. "ClientHello"
	Field string // field name, e.g. "sign_cert"; "" for the header
	Err   error  // one of the sentinels above
	Info  string // lengths or values that are not secrets
}

func (e *FormatError) Error() string {
	s := e.Err.Error() + ": " + e.Msg
	if e.Field != "" {
		s += "." + e.Field
	}
	if e.Info != "" {
		s += ": " + e.Info
	}
	return s
}

// Unwrap returns the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

func ferr(msg, field string, err error, format string, a ...any) error {
	info := ""
	if format != "" {
		info = fmt.Sprintf(format, a...)
	}
	return &FormatError{Msg: msg, Field: field, Err: err, Info: info}
}
