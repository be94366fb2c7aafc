package attack

import (
	"errors"
	"strings"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// Operation outcomes, for errors.Is.
var (
	errUnableToProcess = &drive.OpError{Code: fpproto.ErrorUnableToProcess}
	errHWUnavailable   = &drive.OpError{Code: fpproto.ErrorHWUnavailable}
	errCanceled        = &drive.OpError{Code: fpproto.ErrorCanceled}
)

// paymentNames names the payment TA's own result codes.
var paymentNames = map[tee.Result]string{
	payproto.ResultNotAuthorized:  "PAYMENT_NOT_AUTHORIZED",
	payproto.ResultAuthExpired:    "PAYMENT_AUTH_EXPIRED",
	payproto.ResultKeyInvalidated: "PAYMENT_KEY_INVALIDATED",
	payproto.ResultNoFingers:      "PAYMENT_NO_FINGERS",
	// The channel's (docs/protocol.md §8.11).
	payproto.ResultChannelFailed:         "PAY_ERROR_CHANNEL_FAILED",
	payproto.ResultChannelNotProvisioned: "PAY_ERROR_CHANNEL_NOT_PROVISIONED",
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
	var oe *drive.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var he *fpproto.HATError
	if errors.As(err, &he) {
		return (&drive.OpError{Code: he.Code, Reason: he.Reason}).Error()
	}
	var te *tee.Error
	if errors.As(err, &te) && te.Origin != tee.OriginAPI {
		if n, ok := paymentNames[te.Code]; ok {
			return n
		}
		return te.Code.String()
	}
	// Anything else keeps its text, also a result of the client library
	// itself (TEEC_ORIGIN_API of the GP TEE Client API: no TA answered —
	// a call cut short by its context, a closed session): its code alone
	// ("TEEC_ERROR_CANCEL") would hide which wait ran out and why.
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
