package rpc

import (
	"errors"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// reqShape is what the host remembers of a request's parameters before the
// TA runs: the types (which the TA must not change) and the capacities of
// output memrefs (which the TA may overwrite in Size).
type reqShape struct {
	types [4]tee.ParamType
	caps  [4]uint32
}

func snapshot(p *tee.Params) reqShape {
	var s reqShape
	for i := range p {
		s.types[i] = p[i].Type
		s.caps[i] = p[i].Size
	}
	return s
}

// resultOf maps a TA error to the TEEC result and origin the client sees
// (docs/protocol.md §1.7). opaque reports an error that is not a *tee.Error:
// its text stays in the log and the client learns only TEEC_ERROR_GENERIC.
func resultOf(err error) (code tee.Result, origin tee.Origin, opaque bool) {
	if err == nil {
		return tee.Success, tee.OriginTrustedApp, false
	}
	var te *tee.Error
	if !errors.As(err, &te) || te.Code == tee.Success {
		return tee.ResultGeneric, tee.OriginTrustedApp, true
	}
	origin = te.Origin
	if origin < tee.OriginAPI || origin > tee.OriginTrustedApp {
		origin = tee.OriginTrustedApp
	}
	return te.Code, origin, false
}

// response builds in *resp the RESPONSE to req after the TA entry point returned
// err with req.Params as it left them. Output and inout parameters carry
// the TA's outputs only with TEEC_SUCCESS; with any other result their
// values are 0 and their memrefs carry no bytes and size 0, except under the
// GP short-buffer rule (GPD_SPE_007, TEEC_TempMemoryReference), where
// each output memref's size is the size the TA needs (docs/protocol.md §1.5).
func (c *conn) response(resp *wire.Frame, req *wire.Frame, err error, in *reqShape) {
	*resp = wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID}
	p := &req.Params
	if errors.Is(err, errPanicked) {
		// OP-TEE reports a panicked TA as TEE_ERROR_TARGET_DEAD from the TEE.
		resp.Result, resp.Origin = tee.ResultTargetDead, tee.OriginTEE
		return
	}
	if p.Types() != in.types {
		// Copies declared here: the log fields' escape costs nothing on
		// the common path.
		want, got := in.types, p.Types()
		c.log.Error("TA changed parameter types", zap.Uint32("cmd", req.Command),
			zap.Stringers("want", want[:]), zap.Stringers("got", got[:]))
		resp.Result, resp.Origin = tee.ResultGeneric, tee.OriginTEE
		return
	}
	code, origin, opaque := resultOf(err)
	if opaque {
		c.log.Warn("TA error answered as TEEC_ERROR_GENERIC", zap.Uint32("cmd", req.Command), zap.Error(err))
	}
	taShort := code == tee.ResultShortBuffer
	if code == tee.Success {
		// GP short-buffer rule, applied centrally: an output longer than
		// the capacity the client offered is TEEC_ERROR_SHORT_BUFFER with
		// the size needed (GPD_SPE_007 TEEC_TempMemoryReference).
		for i := range p {
			if p[i].Type.IsMemref() && p[i].Type.IsOutput() && uint64(len(p[i].Data)) > uint64(in.caps[i]) {
				code, origin = tee.ResultShortBuffer, tee.OriginTrustedApp
			}
		}
	}
	resp.Result, resp.Origin = code, origin
	for i := range p {
		t := in.types[i]
		q := &resp.Params[i]
		q.Type = t
		if !t.IsOutput() {
			continue
		}
		if t.IsValue() {
			// Outputs are zeroed on failure (docs/protocol.md §1.5): an
			// INOUT value does not echo the request's input, and nothing
			// the TA left in a value leaks with an error.
			if code == tee.Success {
				q.A, q.B = p[i].A, p[i].B
			}
			continue
		}
		switch code {
		case tee.Success:
			q.Data = p[i].Data
			q.Size = uint32(len(p[i].Data))
		case tee.ResultShortBuffer:
			q.Size = uint32(len(p[i].Data))
			if taShort && p[i].Size > q.Size {
				q.Size = p[i].Size
			}
		}
	}
}
