package fingerprint

import (
	"context"
	"time"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// commands is the fingerprint TA's command table (docs/protocol.md §9.2):
// each command's parameter layout is checked by the Mux before its handler
// runs (TEEC_ERROR_BAD_PARAMETERS), and an unknown command is
// TEEC_ERROR_NOT_SUPPORTED. HAL outcomes are statuses and events in
// TEEC_SUCCESS responses.
var commands = map[fpproto.Command]rpc.Route[session]{
	fpproto.CmdPreEnroll:          {Params: fpproto.TypesPreEnroll, Handler: session.preEnroll},
	fpproto.CmdEnroll:             {Params: fpproto.TypesEnroll, Handler: session.enroll},
	fpproto.CmdPostEnroll:         {Params: fpproto.TypesPostEnroll, Handler: session.postEnroll},
	fpproto.CmdGetAuthenticatorID: {Params: fpproto.TypesGetAuthenticatorID, Handler: session.getAuthenticatorID},
	fpproto.CmdCancel:             {Params: fpproto.TypesCancel, Handler: session.cancel},
	fpproto.CmdEnumerate:          {Params: fpproto.TypesEnumerate, Handler: session.enumerate},
	fpproto.CmdRemove:             {Params: fpproto.TypesRemove, Handler: session.remove},
	fpproto.CmdSetActiveGroup:     {Params: fpproto.TypesSetActiveGroup, Handler: session.setActiveGroup},
	fpproto.CmdAuthenticate:       {Params: fpproto.TypesAuthenticate, Handler: session.authenticate},
	fpproto.CmdNextEvent:          {Params: fpproto.TypesNextEvent, Handler: session.nextEvent, Blocks: true}, // a long poll
	fpproto.CmdResetLockout:       {Params: fpproto.TypesResetLockout, Handler: session.resetLockout},
	fpproto.CmdFetchOutbox:        {Params: fpproto.TypesFetchOutbox, Handler: session.fetchOutbox},
	fpproto.CmdSetAuthTokenKey:    {Params: fpproto.TypesSetAuthTokenKey, Handler: session.setAuthTokenKey},
}

// session is the receiver of the command handlers. Sessions
// (tacore.Commands) take no parameters and hold no state: the TA's state is
// shared by all of them.
type session struct{ t *TA }

// answer stores the HAL status st in VALUE parameter i: the command
// succeeds (TEEC_SUCCESS) whatever the status.
func answer(p *tee.Params, i int, st fpproto.RequestStatus) error {
	p.SetValue(i, uint32(st), 0)
	return nil
}

// answerU64 stores v in VALUE parameter i (a = low, b = high 32 bits)
// unless err, the TA's failure, which is the answer instead.
func answerU64(p *tee.Params, i int, v uint64, err error) error {
	if err != nil {
		return err
	}
	p.SetValue(i, uint32(v), uint32(v>>32))
	return nil
}

// BorrowsParams implements rpc.ParamBorrower: the fingerprint TA's entry
// points keep no memref past their return, as GP allows a TA to assume
// (memory references are valid only during TA_InvokeCommandEntryPoint,
// GPD_SPE_010 §4.9), so the host lends them from its pooled buffers.
// Audited: ENROLL's and RESET_LOCKOUT's HATs are parsed into a
// tokens.Token value before the enrollment goroutine starts (it gets the
// group, SID and timeout only); SET_ACTIVE_GROUP's path is validated and
// dropped; SET_AUTH_TOKEN_KEY keeps only the key the envelope decrypts to.
// TestBorrowedParamsNotRetained shows it.
func (t *TA) BorrowsParams() bool { return true }

var _ rpc.ParamBorrower = (*TA)(nil)

func (s session) preEnroll(_ context.Context, p *tee.Params) error {
	c, err := s.t.PreEnroll()
	return answerU64(p, 0, c, err)
}

func (s session) enroll(_ context.Context, p *tee.Params) error {
	return answer(p, 2, s.t.Enroll(p[1].Data, p[0].A, p[0].B))
}

func (s session) postEnroll(_ context.Context, p *tee.Params) error {
	s.t.PostEnroll()
	return answer(p, 0, fpproto.SysOK)
}

func (s session) getAuthenticatorID(ctx context.Context, p *tee.Params) error {
	id, err := s.t.GetAuthenticatorID(ctx)
	return answerU64(p, 0, id, err)
}

func (s session) cancel(_ context.Context, p *tee.Params) error {
	s.t.Cancel()
	return answer(p, 0, fpproto.SysOK)
}

func (s session) enumerate(ctx context.Context, p *tee.Params) error {
	return answer(p, 0, s.t.Enumerate(ctx))
}

func (s session) remove(ctx context.Context, p *tee.Params) error {
	return answer(p, 1, s.t.Remove(ctx, p[0].A, p[0].B))
}

func (s session) setActiveGroup(ctx context.Context, p *tee.Params) error {
	return answer(p, 2, s.t.SetActiveGroup(ctx, p[0].A, p[1].Data))
}

func (s session) authenticate(_ context.Context, p *tee.Params) error {
	opID := uint64(p[0].A) | uint64(p[0].B)<<32
	return answer(p, 2, s.t.Authenticate(opID, p[1].A))
}

func (s session) resetLockout(ctx context.Context, p *tee.Params) error {
	code, reason := s.t.ResetLockout(ctx, p[0].A, p[1].Data)
	p.SetValue(2, uint32(code), uint32(reason))
	return nil
}

func (s session) setAuthTokenKey(ctx context.Context, p *tee.Params) error {
	return s.t.KeyInstalled(s.t.SetAuthTokenKey(ctx, p[0].Data))
}

func (s session) nextEvent(ctx context.Context, p *tee.Params) error {
	// Checked before dequeuing: no event is lost to a small buffer.
	if err := p.NeedCapacity(3, tokens.Size, "HAT"); err != nil {
		return err
	}
	e, queued := s.t.NextEvent(ctx, time.Duration(p[0].A)*time.Millisecond)
	fpproto.PutEvent(p, e, uint32(queued))
	return nil
}

func (s session) fetchOutbox(_ context.Context, p *tee.Params) error {
	o := s.t.outbox
	if o == nil {
		p.SetOutput(0, nil)
		p.SetValue(1, 0, 0)
		return nil
	}
	if err := p.NeedCapacity(0, o.PendingSize(), "oldest envelope"); err != nil {
		return err
	}
	envs := o.Drain(int(p[0].Size))
	var batch []byte
	for _, e := range envs {
		batch = append(batch, e...)
	}
	p.SetOutput(0, batch)
	p.SetValue(1, uint32(o.Pending()), 0)
	return nil
}
