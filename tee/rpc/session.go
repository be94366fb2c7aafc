package rpc

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// Session is an open session on a TA (a TEEC_Session). Its methods are safe
// for concurrent use; commands on one session run one at a time, in the
// order they acquire it (docs/protocol.md §1.6).
type Session struct {
	c  *Client
	id uint32
	// sem is held by the caller with a request in flight on the session,
	// or, after that caller gave up (context), until the late response
	// arrives: the host accepts one command at a time per session.
	sem    chan struct{}
	closed bool // guarded by sem
	// late is s.releaseLate, made once by OpenSession (a method value
	// allocates); see onLate.
	late func(*wire.Frame)
}

var _ Invoker = (*Session)(nil)

// ID returns the host-assigned session id.
func (s *Session) ID() uint32 { return s.id }

// SessionOption chooses how OpenSession logs in.
type SessionOption func(*wire.Frame)

// AsUser logs in with TEEC_LOGIN_USER: the TA sees the identity of the
// calling process's effective uid, as the kernel reports it
// (docs/protocol.md §1.12).
func AsUser() SessionOption {
	return func(f *wire.Frame) { f.Login, f.ConnData = tee.LoginUser, 0 }
}

// AsGroup logs in with TEEC_LOGIN_GROUP as group gid (GP connectionData),
// which must be the process's effective gid or one of its supplementary
// groups, else OPEN_SESSION fails with TEEC_ERROR_ACCESS_DENIED.
func AsGroup(gid uint32) SessionOption {
	return func(f *wire.Frame) { f.Login, f.ConnData = tee.LoginGroup, gid }
}

// WithLogin sends an arbitrary login method and connection data, for
// tests of the host's checks; AsUser and AsGroup are the normal choices.
func WithLogin(login tee.Login, connData uint32) SessionOption {
	return func(f *wire.Frame) { f.Login, f.ConnData = login, connData }
}

// OpenSession opens a session on the TA uuid (TEEC_OpenSession), by
// default with TEEC_LOGIN_PUBLIC; opts choose another login (AsUser,
// AsGroup). params may be nil; the TA's outputs are written back. A
// non-success result is returned as an error carrying a *tee.Error (for
// example TEEC_ERROR_ITEM_NOT_FOUND, origin TEE, when the socket serves a
// different TA; TEEC_ERROR_ACCESS_DENIED for a group the process is not
// in).
func (c *Client) OpenSession(ctx context.Context, uuid tee.UUID, params *tee.Params, opts ...SessionOption) (*Session, error) {
	if params == nil {
		params = new(tee.Params)
	}
	req := wire.Frame{Op: wire.OpOpenSession, UUID: uuid, Login: wire.LoginPublic, Params: *params}
	for _, o := range opts {
		o(&req)
	}
	resp, _, err := c.roundTrip(ctx, &req, c.closeOrphan)
	if err != nil {
		return nil, err
	}
	if resp.Result == tee.Success && resp.Session == 0 {
		return nil, newCallError(tee.ResultBadFormat, tee.OriginComms, fmt.Errorf("%w: session id 0", ErrProtocol))
	}
	if err := applyResponse(params, &req.Params, &resp); err != nil {
		if resp.Result == tee.Success {
			c.closeOrphan(&resp)
		}
		return nil, err
	}
	s := &Session{c: c, id: resp.Session, sem: make(chan struct{}, 1)}
	s.late = s.releaseLate
	return s, nil
}

// closeOrphan closes, in the background, a session the host opened but the
// caller will never use (it gave up waiting, or the answer was unusable).
func (c *Client) closeOrphan(resp *wire.Frame) {
	if resp == nil || resp.Result != tee.Success || resp.Session == 0 {
		return
	}
	id := resp.Session
	go func() {
		req := wire.Frame{Op: wire.OpCloseSession, Session: id}
		_, _, _ = c.roundTrip(context.Background(), &req, nil)
	}()
}

// take waits for the session to be free (a command in flight on it ends),
// for ctx to end (TEEC_ERROR_CANCEL, origin API) or for the connection to
// be lost (its error).
func (s *Session) take(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return newCallError(tee.ResultCancel, tee.OriginAPI, ctx.Err())
	case <-s.c.dead:
		return s.c.Err()
	}
}

// acquire takes the session for one request.
func (s *Session) acquire(ctx context.Context) error {
	if err := s.take(ctx); err != nil {
		return err
	}
	if s.closed {
		s.release()
		return newCallError(tee.ResultBadState, tee.OriginAPI, ErrSessionClosed)
	}
	return nil
}

func (s *Session) release() { <-s.sem }

func (s *Session) releaseLate(*wire.Frame) { s.release() }

// onLate returns what to call when an abandoned request's late response
// arrives: release the session.
func (s *Session) onLate() func(*wire.Frame) {
	if s.late != nil {
		return s.late
	}
	return s.releaseLate
}

// Invoke runs command cmd on the session (TEEC_InvokeCommand); see Invoker.
// On TEEC_ERROR_SHORT_BUFFER the Size of each output memref is set to the
// size the TA needs. If ctx ends first Invoke returns an error matching
// context.Canceled or context.DeadlineExceeded (TEEC_ERROR_CANCEL, origin
// API); the command may still complete in the TA, and the session's next
// command waits for it. If the connection is lost the error matches
// tee.ErrTargetDead.
func (s *Session) Invoke(ctx context.Context, cmd uint32, params *tee.Params) error {
	if params == nil {
		params = new(tee.Params)
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	req := wire.Frame{Op: wire.OpInvoke, Session: s.id, Command: cmd, Params: *params}
	resp, abandoned, err := s.c.roundTrip(ctx, &req, s.onLate())
	if !abandoned {
		s.release()
	}
	if err != nil {
		return err
	}
	if resp.Session != s.id {
		return newCallError(tee.ResultBadFormat, tee.OriginComms, fmt.Errorf("%w: response for session %d on session %d", ErrProtocol, resp.Session, s.id))
	}
	return applyResponse(params, &req.Params, &resp)
}

// Close closes the session (TEEC_CloseSession). It waits for a command in
// flight on the session. The session is unusable afterwards even if Close
// fails; closing a closed session returns nil.
func (s *Session) Close(ctx context.Context) error {
	if err := s.take(ctx); err != nil {
		return err
	}
	if s.closed {
		s.release()
		return nil
	}
	s.closed = true
	req := wire.Frame{Op: wire.OpCloseSession, Session: s.id}
	resp, abandoned, err := s.c.roundTrip(ctx, &req, s.onLate())
	if !abandoned {
		s.release()
	}
	if err != nil {
		return err
	}
	if resp.Result != tee.Success {
		return &tee.Error{Code: resp.Result, Origin: resp.Origin}
	}
	return nil
}

// applyResponse writes the outputs of resp into params (the caller's view;
// sent is what was sent) and returns the call's result as an error.
// Outputs are zeroed on failure (docs/protocol.md §1.5): with any result
// but TEEC_SUCCESS, output and inout values become 0 and output and inout
// memrefs get no bytes; under TEEC_ERROR_SHORT_BUFFER each memref's Size is
// the size the TA needs (GPD_SPE_007, TEEC_TempMemoryReference), otherwise
// Size keeps the capacity the caller offered. A response that breaks the
// protocol's parameter rules — types other than those sent, a memref
// longer than its capacity, a non-zero value or memref size where §1.5
// requires 0 — changes nothing and is reported as TEEC_ERROR_BAD_FORMAT
// from COMMS.
func applyResponse(params, sent *tee.Params, resp *wire.Frame) error {
	var result error
	if resp.Result != tee.Success {
		result = &tee.Error{Code: resp.Result, Origin: resp.Origin}
	}
	rt := resp.Params.Types()
	if rt == ([4]tee.ParamType{}) && resp.Result != tee.Success {
		return result // the host answered without running the TA
	}
	if rt != sent.Types() {
		return newCallError(tee.ResultBadFormat, tee.OriginComms, fmt.Errorf("%w: response parameter types %v, sent %v", ErrProtocol, rt, sent.Types()))
	}
	if err := checkResponseParams(sent, resp); err != nil {
		return newCallError(tee.ResultBadFormat, tee.OriginComms, err)
	}
	for i := range params {
		t := sent[i].Type
		if !t.IsOutput() {
			continue
		}
		r := &resp.Params[i]
		if t.IsValue() {
			params[i].A, params[i].B = r.A, r.B // 0 unless TEEC_SUCCESS (checked)
			continue
		}
		switch resp.Result {
		case tee.Success:
			params[i].Data, params[i].Size = r.Data, r.Size
		case tee.ResultShortBuffer:
			params[i].Data, params[i].Size = nil, r.Size
		default:
			params[i].Data = nil
		}
	}
	return result
}

// checkResponseParams checks the output parameters of a response whose
// types match those sent against the rules of docs/protocol.md §1.5.
func checkResponseParams(sent *tee.Params, resp *wire.Frame) error {
	for i := range sent {
		t := sent[i].Type
		if !t.IsOutput() {
			continue
		}
		r := &resp.Params[i]
		switch {
		case t.IsValue():
			if resp.Result != tee.Success && (r.A != 0 || r.B != 0) {
				return fmt.Errorf("%w: param %d: value {%d, %d} with result %v, want 0", ErrProtocol, i, r.A, r.B, resp.Result)
			}
		case resp.Result == tee.Success:
			if r.Size > sent[i].Size {
				return fmt.Errorf("%w: param %d: %d bytes returned for capacity %d", ErrProtocol, i, r.Size, sent[i].Size)
			}
		case resp.Result != tee.ResultShortBuffer:
			if r.Size != 0 {
				return fmt.Errorf("%w: param %d: size %d with result %v, want 0", ErrProtocol, i, r.Size, resp.Result)
			}
		}
	}
	return nil
}
