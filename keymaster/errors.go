package keymaster

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tacore"
)

// kmErr builds a *kmproto.Error.
func kmErr(code kmproto.ErrorCode, format string, args ...any) *kmproto.Error {
	return &kmproto.Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// teeError maps a handler's error to what the TA's InvokeCommand entry
// point returns (GPD_SPE_010 §4.9): a Keymaster *kmproto.Error becomes its
// TEEC result kmproto.ResultBase|-code with origin TEEC_ORIGIN_TRUSTED_APP
// (docs/protocol.md §2.2), unless a *tee.Error (a GP-level failure) is in
// the chain; everything else is the shared mapping, tacore.TEEError — a
// *tee.Error passes through, anything unrecognised is answered
// TEEC_ERROR_GENERIC by the host. Details never carry secrets.
func teeError(err error) error {
	var te *tee.Error
	var ke *kmproto.Error
	if !errors.As(err, &te) && errors.As(err, &ke) {
		return &tee.Error{Code: ke.Code.Result(), Origin: tee.OriginTrustedApp, Detail: err.Error()}
	}
	return tacore.TEEError(err)
}
