package rpc

import (
	"errors"

	"github.com/fpemu/fpemu/tee"
)

var (
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = errors.New("rpc: server closed")
	// ErrClientClosed is the cause of calls failed by Client.Close.
	ErrClientClosed = errors.New("rpc: client closed")
	// ErrSessionClosed is the cause of calls on a closed Session.
	ErrSessionClosed = errors.New("rpc: session closed")
	// ErrProtocol is the cause when the peer broke the protocol (a
	// malformed response, an unknown request id, a request op sent to a
	// client, parameter types that do not match the request).
	ErrProtocol = errors.New("rpc: protocol violation")
)

// callError is a TEEC result plus the Go error that caused it, so that a
// caller can test both errors.Is(err, tee.ErrTargetDead) and, say,
// errors.Is(err, io.EOF) or errors.Is(err, context.Canceled).
type callError struct {
	te    *tee.Error
	cause error
}

func (e *callError) Error() string {
	if e.cause == nil {
		return e.te.Error()
	}
	return e.te.Error() + ": " + e.cause.Error()
}

func (e *callError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.te}
	}
	return []error{e.te, e.cause}
}

func newCallError(code tee.Result, origin tee.Origin, cause error) error {
	return &callError{te: &tee.Error{Code: code, Origin: origin}, cause: cause}
}

// targetDead is the client's answer once the connection is gone:
// TEEC_ERROR_TARGET_DEAD with TEEC_ORIGIN_COMMS.
func targetDead(cause error) error {
	return newCallError(tee.ResultTargetDead, tee.OriginComms, cause)
}

// ErrFrameTimeout is why the host closed a connection whose request frame
// stayed incomplete for longer than the frame timeout (WithFrameTimeout,
// docs/protocol.md §1.6).
var ErrFrameTimeout = errors.New("rpc: incomplete frame timed out")
