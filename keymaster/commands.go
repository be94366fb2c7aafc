package keymaster

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// commands is the Keymaster TA's command table (docs/protocol.md §2.1):
// each command's parameter layout is checked by the Mux before its handler
// runs (TEEC_ERROR_BAD_PARAMETERS), and an unknown command is
// TEEC_ERROR_NOT_SUPPORTED.
var commands = map[kmproto.Command]rpc.Route[*session]{
	kmproto.CmdGenerateKey:     {Params: kmproto.TypesGenerateKey, Handler: (*session).generateKey},
	kmproto.CmdBegin:           {Params: kmproto.TypesBegin, Handler: (*session).begin},
	kmproto.CmdUpdate:          {Params: kmproto.TypesUpdate, Handler: (*session).update},
	kmproto.CmdFinish:          {Params: kmproto.TypesFinish, Handler: (*session).finish},
	kmproto.CmdAbort:           {Params: kmproto.TypesAbort, Handler: (*session).abort},
	kmproto.CmdGetAuthTokenKey: {Params: kmproto.TypesGetAuthTokenKey, Handler: (*session).getAuthTokenKey},
}

// session is one CA session on the TA. Operations belong to the session
// that began them and end with it.
type session struct {
	ta     *TA
	id     uint64
	client uint64 // whose operations these are, for pruning (operation.go)
}

// newSession opens a session for the client connection client (rpc.ConnID;
// 0 outside a TA host, where each session counts as its own client).
func (ta *TA) newSession(client uint64) *session {
	s := &session{ta: ta, id: ta.nextSID.Add(1), client: client}
	if client == 0 {
		s.client = 1<<63 | s.id
	}
	return s
}

// checkCapacity applies the GP short-buffer rule (GPD_SPE_007 §4.5.5)
// before a command does any work: if an output memref offers less than
// the command may produce, it sets every listed output's Size to the size
// needed and returns TEEC_ERROR_SHORT_BUFFER, so a retry with bigger
// buffers loses nothing (no key generated in vain, no operation consumed).
// need maps a parameter index to the bytes the command needs there.
func checkCapacity(p *tee.Params, need map[int]int) error {
	short := false
	for i, n := range need {
		if int(p[i].Size) < n {
			short = true
		}
	}
	if !short {
		return nil
	}
	for i, n := range need {
		p[i].Size = uint32(n)
	}
	return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "output buffer too small")
}

// Invoke runs one command through the command table. GP-level problems
// (unknown command, wrong parameter types, bad sizes, access) are
// *tee.Error; Keymaster failures are *kmproto.Error, which the host sends as
// TEEC result kmproto.ResultBase|-code (teeError).
func (s *session) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	start := time.Now()
	wire := teeError(s.ta.mux.Invoke(ctx, s, cmd, p))
	if wire != nil {
		s.ta.Log.Debug("command failed",
			zap.Uint64("session", s.id), zap.Uint32("cmd", cmd),
			zap.Stringer("result", tee.ResultOf(wire)), zap.Duration("duration", time.Since(start)))
		return wire
	}
	return nil
}

// getAuthTokenKey: p0 recipient UUID (16 bytes), p1 envelope.
func (s *session) getAuthTokenKey(_ context.Context, p *tee.Params) error {
	if len(p[0].Data) != len(tee.UUID{}) {
		return tee.Errorf(tee.ResultBadParameters, tee.OriginTrustedApp, "recipient UUID is %d bytes, want 16", len(p[0].Data))
	}
	recipient := tee.UUID(p[0].Data)
	if err := s.ta.checkRecipient(recipient); err != nil {
		return err
	}
	if err := checkCapacity(p, map[int]int{1: kmproto.AuthTokenKeyEnvelopeSize}); err != nil {
		return err
	}
	env, err := s.ta.getAuthTokenKey(recipient)
	if err != nil {
		return err
	}
	p.SetOutput(1, env)
	return nil
}

// generateKey: p0 key parameters, p1 key blob, p2 public key (65 bytes).
func (s *session) generateKey(_ context.Context, p *tee.Params) error {
	if err := checkCapacity(p, map[int]int{1: kmproto.BlobSize(len(p[0].Data)), 2: kmproto.PublicKeySize}); err != nil {
		return err
	}
	blob, pub, err := s.ta.generateKey(p[0].Data)
	if err != nil {
		return err
	}
	p.SetOutput(1, blob)
	p.SetOutput(2, pub)
	return nil
}

// begin: p0 key blob, p1 a = purpose, p2 HAT (0 or 69 bytes), p3 handle.
func (s *session) begin(_ context.Context, p *tee.Params) error {
	h, err := s.ta.begin(s.id, s.client, p[0].Data, kmproto.Purpose(p[1].A), p[2].Data)
	if err != nil {
		return err
	}
	a, b := kmproto.HandleParam(h)
	p.SetValue(3, a, b)
	return nil
}

// update: p0 handle, p1 data, p2 HAT.
func (s *session) update(_ context.Context, p *tee.Params) error {
	return s.ta.update(s.id, kmproto.HandleOf(p[0]), p[1].Data, p[2].Data)
}

// finish: p0 handle, p1 data, p2 HAT, p3 signature (capacity ≥
// kmproto.MaxSignatureSize).
func (s *session) finish(_ context.Context, p *tee.Params) error {
	if err := checkCapacity(p, map[int]int{3: kmproto.MaxSignatureSize}); err != nil {
		return err
	}
	sig, err := s.ta.finish(s.id, kmproto.HandleOf(p[0]), p[1].Data, p[2].Data)
	if err != nil {
		return err
	}
	p.SetOutput(3, sig)
	return nil
}

// abort: p0 handle.
func (s *session) abort(_ context.Context, p *tee.Params) error {
	return s.ta.abort(s.id, kmproto.HandleOf(p[0]))
}

// Close ends the session and destroys its operations.
func (s *session) Close() {
	if n := s.ta.ops.endOwner(s.id); n > 0 {
		s.ta.Log.Debug("session closed with live operations", zap.Uint64("session", s.id), zap.Int("aborted", n))
	}
}

// BorrowsParams implements rpc.ParamBorrower: Keymaster's entry points keep
// no memref past their return, as GP allows a TA to assume (memory
// references are valid only during TA_InvokeCommandEntryPoint,
// GPD_SPE_010 §4.9), so the host lends them from its pooled buffers.
// Audited: GENERATE_KEY's parameters are copied by kmproto.ParseParams
// before they reach the key cache; BEGIN's blob is a SHA-256 cache key
// and an AEAD input (its parameters parsed by copy again), its HAT and
// those of UPDATE and FINISH are parsed into a tokens.Token value;
// UPDATE and FINISH input is absorbed by the operation's hash, which
// copies; GET_AUTH_TOKEN_KEY's recipient is converted to a tee.UUID
// array. TestBorrowedParamsNotRetained shows it.
func (ta *TA) BorrowsParams() bool { return true }

var _ rpc.ParamBorrower = (*TA)(nil)

// OpenSession implements rpc.TA (TA_OpenSessionEntryPoint). Keymaster
// sessions take no parameters.
func (ta *TA) OpenSession(ctx context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return ta.newSession(rpc.ConnID(ctx)), nil
}

// CommandName implements rpc.CommandNamer: the host's log names commands.
func (ta *TA) CommandName(cmd uint32) (string, bool) { return ta.mux.CommandName(cmd) }
