package wire

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// Sentinels naming each way a frame can be malformed. A decoding error is a
// *FormatError wrapping one of these and tee.ErrBadFormat.
var (
	// ErrTruncated: the input ends before a field or a memref's bytes.
	ErrTruncated = errors.New("wire: truncated")
	// ErrTrailingBytes: bytes remain after the last field.
	ErrTrailingBytes = errors.New("wire: trailing bytes")
	// ErrFrameLength: the length prefix is below the header size, above
	// MaxFrameLen, or disagrees with the bytes supplied; or, encoding, the
	// frame or one memref would exceed MaxFrameLen.
	ErrFrameLength = errors.New("wire: bad frame length")
	// ErrVersion: the version byte is not Version.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrReserved: a reserved field is not zero.
	ErrReserved = errors.New("wire: reserved field not zero")
	// ErrUnknownOp: the op byte names no operation.
	ErrUnknownOp = errors.New("wire: unknown op")
	// ErrUnknownParamType: a parameter type byte is not one of the seven
	// TEEC types fpemu carries (registered shared memory is rejected too).
	ErrUnknownParamType = errors.New("wire: unknown parameter type")
	// ErrMemrefSize: an INOUT memref's data is longer than its capacity.
	ErrMemrefSize = errors.New("wire: bad memref size")
	// ErrOrigin: a response's return origin is not a TEEC_ORIGIN_* value.
	ErrOrigin = errors.New("wire: bad return origin")
)

// FormatError reports a malformed frame or parameter block: which rule
// failed (Kind, one of the sentinels above), at which byte offset of the
// input (-1 for an encoding error, which has no input), and a short
// explanation. It never quotes payload bytes, so it is safe to log.
//
// errors.Is(err, tee.ErrBadFormat) holds for every FormatError
// (TEEC_ERROR_BAD_FORMAT, GPD_SPE_007 §4.4.2), as does errors.Is(err, Kind).
type FormatError struct {
	Kind   error
	Offset int
	Detail string
}

func (e *FormatError) Error() string {
	s := e.Kind.Error()
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the specific sentinel and tee.ErrBadFormat.
func (e *FormatError) Unwrap() []error { return []error{e.Kind, tee.ErrBadFormat} }

func formatErr(kind error, off int, format string, args ...any) *FormatError {
	return &FormatError{Kind: kind, Offset: off, Detail: fmt.Sprintf(format, args...)}
}
