package gatekeeper

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

// commands is the Gatekeeper TA's command table (docs/protocol.md §3.2):
// each command's parameter layout is checked by the Mux before its handler
// runs (TEEC_ERROR_BAD_PARAMETERS), and an unknown command is
// TEEC_ERROR_NOT_SUPPORTED.
var commands = map[gkproto.Command]rpc.Route[session]{
	gkproto.CmdEnroll:          {Params: gkproto.TypesEnroll, Handler: session.enroll},
	gkproto.CmdVerify:          {Params: gkproto.TypesVerify, Handler: session.verify},
	gkproto.CmdDeleteUser:      {Params: gkproto.TypesDeleteUser, Handler: session.deleteUser},
	gkproto.CmdDeleteAllUsers:  {Params: gkproto.TypesDeleteAllUsers, Handler: session.deleteAllUsers},
	gkproto.CmdSetAuthTokenKey: {Params: gkproto.TypesSetAuthTokenKey, Handler: session.setAuthTokenKey},
}

// session is the receiver of the command handlers. Sessions
// (tacore.Commands) take no parameters and hold no state: every command is
// complete in itself. The handlers decode the payload
// (TEEC_ERROR_BAD_FORMAT) and run the command; Gatekeeper outcomes,
// including wrong passwords and retry timeouts, are TEEC_SUCCESS with the
// Status in p0.
type session struct{ t *TA }

func (s session) setAuthTokenKey(_ context.Context, p *tee.Params) error {
	return s.t.KeyInstalled(s.t.SetAuthTokenKey(p[0].Data))
}

func setStatus(p *tee.Params, st gkproto.Status, retryMs uint32) { p.SetValue(0, uint32(st), retryMs) }

func (s session) enroll(ctx context.Context, p *tee.Params) error {
	// Checked before any state changes: a handle the client cannot receive
	// would be an enrollment it cannot use.
	if err := p.NeedCapacity(2, gkproto.HandleSize, "handle"); err != nil {
		return err
	}
	req, err := gkproto.ParseEnrollPayload(p[1].Data)
	if err != nil {
		return tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "%v", err)
	}
	rsp, err := s.t.Enroll(ctx, p[0].A, req)
	if err != nil {
		return tacore.TEEError(err)
	}
	setStatus(p, rsp.Status, rsp.RetryTimeoutMs)
	p.SetValue(3, uint32(rsp.SecureUserID), uint32(rsp.SecureUserID>>32))
	p.SetOutput(2, rsp.Handle)
	return nil
}

func (s session) verify(ctx context.Context, p *tee.Params) error {
	if err := p.NeedCapacity(3, tokens.Size, "auth token"); err != nil {
		return err
	}
	req, err := gkproto.ParseVerifyPayload(p[2].Data)
	if err != nil {
		return tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "%v", err)
	}
	challenge := uint64(p[1].A) | uint64(p[1].B)<<32
	rsp, err := s.t.Verify(ctx, p[0].A, challenge, req)
	if err != nil {
		return tacore.TEEError(err)
	}
	setStatus(p, rsp.Status, rsp.RetryTimeoutMs)
	var reenroll uint32
	if rsp.RequestReenroll {
		reenroll = 1
	}
	p.SetValue(1, reenroll, 0)
	if rsp.Status == gkproto.StatusOK || rsp.Status == gkproto.StatusReenroll {
		p.SetOutput(3, rsp.Token.Marshal())
	} else {
		p.SetOutput(3, nil)
	}
	return nil
}

func (s session) deleteUser(ctx context.Context, p *tee.Params) error {
	st, err := s.t.DeleteUser(ctx, p[0].A)
	if err != nil {
		return tacore.TEEError(err)
	}
	setStatus(p, st, 0)
	return nil
}

func (s session) deleteAllUsers(ctx context.Context, p *tee.Params) error {
	st, err := s.t.DeleteAllUsers(ctx)
	if err != nil {
		return tacore.TEEError(err)
	}
	setStatus(p, st, 0)
	return nil
}

// BorrowsParams implements rpc.ParamBorrower: Gatekeeper's entry points
// keep no memref past their return, as GP allows a TA to assume (memory
// references are valid only during TA_InvokeCommandEntryPoint,
// GPD_SPE_010 §4.9), so the host lends them from its pooled buffers.
// Audited: gkproto.ParseEnrollPayload and ParseVerifyPayload copy every
// field; handles and passwords are compared, MACed and sealed into the
// store within the command; SET_AUTH_TOKEN_KEY keeps only the key the
// envelope decrypts to (tacore.Core.SetAuthTokenKey).
// TestBorrowedParamsNotRetained shows it.
func (t *TA) BorrowsParams() bool { return true }

var _ rpc.ParamBorrower = (*TA)(nil)

var _ rpc.TA = (*TA)(nil)

// String describes the TA without secrets.
func (t *TA) String() string {
	return fmt.Sprintf("gatekeeper.TA(%s, auth-token key: %v)", t.Self, t.HasAuthTokenKey())
}
