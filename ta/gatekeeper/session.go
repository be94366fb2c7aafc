package gatekeeper

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// Parameter layouts of the Gatekeeper commands (docs/protocol.md §3). A
// status travels as the two's-complement uint32 of the int32 Status; u64
// values as two VALUE halves, a = low 32 bits, b = high 32 bits.
//
//	SET_AUTH_TOKEN_KEY  p0 MEMREF_INPUT   envelope from Keymaster
//	ENROLL              p0 VALUE_INOUT    in a=uid; out a=status, b=retry_timeout_ms
//	                    p1 MEMREF_INPUT   EnrollPayload
//	                    p2 MEMREF_OUTPUT  new password handle (capacity ≥ 58)
//	                    p3 VALUE_OUTPUT   a,b = secure user id
//	VERIFY              p0 VALUE_INOUT    in a=uid; out a=status, b=retry_timeout_ms
//	                    p1 VALUE_INOUT    in a,b = challenge; out a=request_reenroll, b=0
//	                    p2 MEMREF_INPUT   VerifyPayload
//	                    p3 MEMREF_OUTPUT  hw_auth_token_t (capacity ≥ 69)
//	DELETE_USER         p0 VALUE_INOUT    in a=uid; out a=status
//	DELETE_ALL_USERS    p0 VALUE_OUTPUT   a=status
var (
	typesSetKey     = []tee.ParamType{tee.ParamMemrefInput}
	typesEnroll     = []tee.ParamType{tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamValueOutput}
	typesVerify     = []tee.ParamType{tee.ParamValueInout, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	typesDeleteUser = []tee.ParamType{tee.ParamValueInout}
	typesDeleteAll  = []tee.ParamType{tee.ParamValueOutput}
)

// OpenSession implements rpc.TA. Sessions take no parameters and hold no
// state: every command is complete in itself.
func (t *TA) OpenSession(_ context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return session{t}, nil
}

type session struct{ t *TA }

// Close implements rpc.TASession.
func (session) Close() {}

// Invoke implements rpc.TASession: it checks the parameter types of cmd
// (TEEC_ERROR_BAD_PARAMETERS), decodes the payload (TEEC_ERROR_BAD_FORMAT)
// and runs the command. Gatekeeper outcomes, including wrong passwords and
// retry timeouts, are TEEC_SUCCESS with the Status in p0.
func (s session) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	switch cmd {
	case CmdSetAuthTokenKey:
		return s.setAuthTokenKey(p)
	case CmdEnroll:
		return s.enroll(ctx, p)
	case CmdVerify:
		return s.verify(ctx, p)
	case CmdDeleteUser:
		return s.deleteUser(ctx, p)
	case CmdDeleteAllUsers:
		return s.deleteAllUsers(ctx, p)
	}
	return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "gatekeeper: unknown command 0x%x", cmd)
}

func (s session) setAuthTokenKey(p *tee.Params) error {
	if err := p.Expect(typesSetKey...); err != nil {
		return err
	}
	err := s.t.SetAuthTokenKey(p[0].Data)
	if err != nil {
		s.t.log.Warn("auth-token key envelope rejected", zap.Error(err))
	}
	return teeError(err)
}

// teeError maps SetAuthTokenKey and internal errors to TEEC results
// (docs/protocol.md §3.3): an envelope refusal as envelope.TEEResult (a
// malformed envelope BAD_FORMAT, one not meant for this TA ACCESS_DENIED,
// a forged or replayed one SECURITY); a key payload that is not 32 bytes
// BAD_FORMAT, an envelope not from Keymaster ACCESS_DENIED, a missing
// auth-token key BAD_STATE; anything else (the store) is GENERIC with the
// cause kept in the TA log.
func teeError(err error) error {
	if err == nil {
		return nil
	}
	code, ok := envelope.TEEResult(err)
	switch {
	case ok:
	case errors.Is(err, ErrKeyPayload):
		code = tee.ResultBadFormat
	case errors.Is(err, ErrWrongSender):
		code = tee.ResultAccessDenied
	case errors.Is(err, ErrNoAuthTokenKey):
		code = tee.ResultBadState
	default:
		return err // opaque: TEEC_ERROR_GENERIC, text stays in the host log
	}
	return &tee.Error{Code: code, Origin: tee.OriginTrustedApp, Detail: err.Error()}
}

func setStatus(p *tee.Params, st Status, retryMs uint32) { p.SetValue(0, uint32(st), retryMs) }

func (s session) enroll(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesEnroll...); err != nil {
		return err
	}
	if p[2].Size < HandleSize {
		// Checked before any state changes: a handle the client cannot
		// receive would be an enrollment it cannot use.
		p[2].Size = HandleSize
		return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "handle needs %d bytes", HandleSize)
	}
	req, err := ParseEnrollPayload(p[1].Data)
	if err != nil {
		return tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "%v", err)
	}
	rsp, err := s.t.Enroll(ctx, p[0].A, req)
	if err != nil {
		return teeError(err)
	}
	setStatus(p, rsp.Status, rsp.RetryTimeoutMs)
	p.SetValue(3, uint32(rsp.SecureUserID), uint32(rsp.SecureUserID>>32))
	p.SetOutput(2, rsp.Handle)
	return nil
}

func (s session) verify(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesVerify...); err != nil {
		return err
	}
	if p[3].Size < tokens.Size {
		p[3].Size = tokens.Size
		return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "auth token needs %d bytes", tokens.Size)
	}
	req, err := ParseVerifyPayload(p[2].Data)
	if err != nil {
		return tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "%v", err)
	}
	challenge := uint64(p[1].A) | uint64(p[1].B)<<32
	rsp, err := s.t.Verify(ctx, p[0].A, challenge, req)
	if err != nil {
		return teeError(err)
	}
	setStatus(p, rsp.Status, rsp.RetryTimeoutMs)
	var reenroll uint32
	if rsp.RequestReenroll {
		reenroll = 1
	}
	p.SetValue(1, reenroll, 0)
	if rsp.Status == StatusOK || rsp.Status == StatusReenroll {
		p.SetOutput(3, rsp.Token.Marshal())
	} else {
		p.SetOutput(3, nil)
	}
	return nil
}

func (s session) deleteUser(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesDeleteUser...); err != nil {
		return err
	}
	st, err := s.t.DeleteUser(ctx, p[0].A)
	if err != nil {
		return teeError(err)
	}
	setStatus(p, st, 0)
	return nil
}

func (s session) deleteAllUsers(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesDeleteAll...); err != nil {
		return err
	}
	st, err := s.t.DeleteAllUsers(ctx)
	if err != nil {
		return teeError(err)
	}
	setStatus(p, st, 0)
	return nil
}

var _ rpc.TA = (*TA)(nil)

// String describes the TA without secrets.
func (t *TA) String() string {
	return fmt.Sprintf("gatekeeper.TA(%s, auth-token key: %v)", t.self, t.HasAuthTokenKey())
}
