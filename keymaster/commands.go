package keymaster

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// Command ids of the Keymaster TA (the command_id of an INVOKE frame). The
// operation commands take AOSP's AndroidKeymasterCommand numbers
// (android_keymaster_messages.h: GENERATE_KEY = 0, BEGIN_OPERATION = 1,
// UPDATE_OPERATION = 2, FINISH_OPERATION = 3, ABORT_OPERATION = 4).
// GET_AUTH_TOKEN_KEY is Trusty's KM_GET_AUTH_TOKEN_KEY, served there on a
// separate secure port; fpemu has one socket per TA, so it is moved to
// 0x10000. Parameter layouts: docs/protocol.md §2.
const (
	CmdGenerateKey     uint32 = 0
	CmdBegin           uint32 = 1
	CmdUpdate          uint32 = 2
	CmdFinish          uint32 = 3
	CmdAbort           uint32 = 4
	CmdGetAuthTokenKey uint32 = 0x10000
)

// AuthTokenKeyEnvelopeSize is the size of the GET_AUTH_TOKEN_KEY output:
// an envelope carrying the 32-byte key.
const AuthTokenKeyEnvelopeSize = envelope.Overhead + tokens.KeySize

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

// handleParam packs a 64-bit operation handle into a value parameter as
// every fpemu TA carries a u64: a = low 32 bits, b = high 32 bits
// (docs/protocol.md §2.1, protocol revision 2).
func handleParam(h uint64) (a, b uint32) { return uint32(h), uint32(h >> 32) }

// handleOf is the inverse of handleParam.
func handleOf(p tee.Param) uint64 { return uint64(p.A) | uint64(p.B)<<32 }

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

// Invoke runs one command. GP-level problems (wrong parameter types, bad
// sizes, access) are *tee.Error; Keymaster failures are *Error, which the
// host sends as TEEC result ResultBase|-code (see toTEE).
func (s *session) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	start := time.Now()
	err := s.invoke(ctx, cmd, p)
	wire := toTEE(err)
	if wire != nil {
		s.ta.log.Debug("command failed",
			zap.Uint64("session", s.id), zap.Uint32("cmd", cmd),
			zap.Stringer("result", tee.ResultOf(wire)), zap.Duration("duration", time.Since(start)))
		return wire
	}
	return nil
}

func (s *session) invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	ta := s.ta
	switch cmd {
	case CmdGetAuthTokenKey:
		// p0 MEMREF_INPUT recipient UUID (16 bytes), p1 MEMREF_OUTPUT envelope.
		if err := p.Expect(tee.ParamMemrefInput, tee.ParamMemrefOutput); err != nil {
			return err
		}
		if len(p[0].Data) != len(tee.UUID{}) {
			return tee.Errorf(tee.ResultBadParameters, tee.OriginTrustedApp, "recipient UUID is %d bytes, want 16", len(p[0].Data))
		}
		recipient := tee.UUID(p[0].Data)
		if err := ta.checkRecipient(recipient); err != nil {
			return err
		}
		if err := checkCapacity(p, map[int]int{1: AuthTokenKeyEnvelopeSize}); err != nil {
			return err
		}
		env, err := ta.getAuthTokenKey(recipient)
		if err != nil {
			return err
		}
		p.SetOutput(1, env)
		return nil

	case CmdGenerateKey:
		// p0 MEMREF_INPUT key parameters, p1 MEMREF_OUTPUT key blob,
		// p2 MEMREF_OUTPUT public key (65 bytes).
		if err := p.Expect(tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefOutput); err != nil {
			return err
		}
		if err := checkCapacity(p, map[int]int{1: blobSize(len(p[0].Data)), 2: PublicKeySize}); err != nil {
			return err
		}
		blob, pub, err := ta.generateKey(p[0].Data)
		if err != nil {
			return err
		}
		p.SetOutput(1, blob)
		p.SetOutput(2, pub)
		return nil

	case CmdBegin:
		// p0 MEMREF_INPUT key blob, p1 VALUE_INPUT a = purpose,
		// p2 MEMREF_INPUT HAT (0 or 69 bytes), p3 VALUE_OUTPUT handle.
		if err := p.Expect(tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput); err != nil {
			return err
		}
		h, err := ta.begin(s.id, s.client, p[0].Data, Purpose(p[1].A), p[2].Data)
		if err != nil {
			return err
		}
		a, b := handleParam(h)
		p.SetValue(3, a, b)
		return nil

	case CmdUpdate:
		// p0 VALUE_INPUT handle, p1 MEMREF_INPUT data, p2 MEMREF_INPUT HAT.
		if err := p.Expect(tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefInput); err != nil {
			return err
		}
		return ta.update(s.id, handleOf(p[0]), p[1].Data, p[2].Data)

	case CmdFinish:
		// p0 VALUE_INPUT handle, p1 MEMREF_INPUT data, p2 MEMREF_INPUT HAT,
		// p3 MEMREF_OUTPUT signature (capacity ≥ MaxSignatureSize).
		if err := p.Expect(tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefInput, tee.ParamMemrefOutput); err != nil {
			return err
		}
		if err := checkCapacity(p, map[int]int{3: MaxSignatureSize}); err != nil {
			return err
		}
		sig, err := ta.finish(s.id, handleOf(p[0]), p[1].Data, p[2].Data)
		if err != nil {
			return err
		}
		p.SetOutput(3, sig)
		return nil

	case CmdAbort:
		// p0 VALUE_INPUT handle.
		if err := p.Expect(tee.ParamValueInput); err != nil {
			return err
		}
		return ta.abort(s.id, handleOf(p[0]))
	}
	return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "unknown command %#x", cmd)
}

// Close ends the session and destroys its operations.
func (s *session) Close() {
	if n := s.ta.ops.endOwner(s.id); n > 0 {
		s.ta.log.Debug("session closed with live operations", zap.Uint64("session", s.id), zap.Int("aborted", n))
	}
}

// OpenSession implements rpc.TA (TA_OpenSessionEntryPoint). Keymaster
// sessions take no parameters.
func (ta *TA) OpenSession(ctx context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return ta.newSession(rpc.ConnID(ctx)), nil
}
