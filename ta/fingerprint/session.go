package fingerprint

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// OpenSession implements rpc.TA. Sessions take no parameters and hold no
// state: the TA's state is shared by all of them.
func (t *TA) OpenSession(_ context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return session{t}, nil
}

type session struct{ t *TA }

// Close implements rpc.TASession.
func (session) Close() {}

func setStatus(p *tee.Params, i int, st RequestStatus) { p.SetValue(i, uint32(st), 0) }

// Invoke implements rpc.TASession (docs/protocol.md §9.2): parameter types
// are checked first (TEEC_ERROR_BAD_PARAMETERS); HAL outcomes are statuses
// and events in TEEC_SUCCESS responses.
func (s session) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	t := s.t
	switch cmd {
	case CmdPreEnroll:
		if err := p.Expect(typesValueOut...); err != nil {
			return err
		}
		c, err := t.PreEnroll()
		if err != nil {
			return err
		}
		p.SetValue(0, uint32(c), uint32(c>>32))
	case CmdEnroll:
		if err := p.Expect(typesEnroll...); err != nil {
			return err
		}
		setStatus(p, 2, t.Enroll(p[1].Data, p[0].A, p[0].B))
	case CmdPostEnroll:
		if err := p.Expect(typesValueOut...); err != nil {
			return err
		}
		t.PostEnroll()
		setStatus(p, 0, SysOK)
	case CmdGetAuthenticatorID:
		if err := p.Expect(typesValueOut...); err != nil {
			return err
		}
		id, err := t.GetAuthenticatorID(ctx)
		if err != nil {
			return err
		}
		p.SetValue(0, uint32(id), uint32(id>>32))
	case CmdCancel:
		if err := p.Expect(typesValueOut...); err != nil {
			return err
		}
		t.Cancel()
		setStatus(p, 0, SysOK)
	case CmdEnumerate:
		if err := p.Expect(typesValueOut...); err != nil {
			return err
		}
		setStatus(p, 0, t.Enumerate(ctx))
	case CmdRemove:
		if err := p.Expect(typesRemove...); err != nil {
			return err
		}
		setStatus(p, 1, t.Remove(ctx, p[0].A, p[0].B))
	case CmdSetActiveGroup:
		if err := p.Expect(typesSetGroup...); err != nil {
			return err
		}
		setStatus(p, 2, t.SetActiveGroup(ctx, p[0].A, p[1].Data))
	case CmdAuthenticate:
		if err := p.Expect(typesAuth...); err != nil {
			return err
		}
		setStatus(p, 2, t.Authenticate(u64(p[0]), p[1].A))
	case CmdNextEvent:
		return s.nextEvent(ctx, p)
	case CmdResetLockout:
		if err := p.Expect(typesReset...); err != nil {
			return err
		}
		code, reason := t.ResetLockout(ctx, p[0].A, p[1].Data)
		p.SetValue(2, uint32(code), uint32(reason))
	case CmdFetchOutbox:
		return s.fetchOutbox(p)
	case CmdSetAuthTokenKey:
		if err := p.Expect(typesSetKey...); err != nil {
			return err
		}
		err := t.SetAuthTokenKey(ctx, p[0].Data)
		if err != nil {
			t.log.Warn("auth-token key envelope rejected", zap.Error(err))
		}
		return teeError(err)
	default:
		return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "fingerprint: unknown command 0x%x", cmd)
	}
	return nil
}

func (s session) nextEvent(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesNextEvent...); err != nil {
		return err
	}
	if p[3].Size < hatSize {
		// Checked before dequeuing: no event is lost to a small buffer.
		p[3].Size = hatSize
		return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "HAT needs %d bytes", hatSize)
	}
	e, queued := s.t.NextEvent(ctx, time.Duration(p[0].A)*time.Millisecond)
	putEvent(p, e, uint32(queued))
	return nil
}

func (s session) fetchOutbox(p *tee.Params) error {
	if err := p.Expect(typesOutbox...); err != nil {
		return err
	}
	o := s.t.outbox
	if o == nil {
		p.SetOutput(0, nil)
		p.SetValue(1, 0, 0)
		return nil
	}
	if need := o.PendingSize(); need > int(p[0].Size) {
		p[0].Size = uint32(need)
		return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "oldest envelope needs %d bytes", need)
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

// teeError maps SetAuthTokenKey errors to TEEC results as the Gatekeeper TA
// does (docs/protocol.md §3.3): malformed envelope or payload BAD_FORMAT;
// wrong recipient, sender or type ACCESS_DENIED; forged or replayed
// SECURITY; anything else (the store) GENERIC, the cause in the TA log.
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
	default:
		return err
	}
	return &tee.Error{Code: code, Origin: tee.OriginTrustedApp, Detail: err.Error()}
}
