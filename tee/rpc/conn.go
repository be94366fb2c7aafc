package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// conn is the host side of one client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	log *zap.Logger

	ctx    context.Context // cancelled when the client goes away
	cancel context.CancelFunc

	wmu      sync.Mutex // serialises response writes
	stopping atomic.Bool
	inflight sync.WaitGroup
	fr       *frameReader  // used only by the goroutine holding the reading role
	readStop chan struct{} // closed by stopReading: a reader waiting for frame budget gives up
	stopOnce sync.Once
	reading  atomic.Pointer[readerTurn]
	tearOnce sync.Once

	credOnce sync.Once
	cred     *Credentials // the kernel's word on the client; nil if none

	mu       sync.Mutex
	sessions map[uint32]*session
	reserved int // open sessions plus OPEN_SESSIONs running
	nextID   uint32
}

type session struct {
	id   uint32
	ctx  context.Context // the connection's, carrying the client's identity
	ts   TASession
	busy bool // a command or close is running
	dead bool // the TA panicked in this session
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	ctx, cancel := context.WithCancel(s.baseCtx)
	c := &conn{
		srv:      s,
		nc:       nc,
		fr:       newFrameReader(nc),
		readStop: make(chan struct{}),
		log:      s.log.With(zap.Uint64("conn", id)),
		ctx:      withConnID(ctx, id),
		cancel:   cancel,
		sessions: map[uint32]*session{},
	}
	c.fr.guard = &frameGuard{budget: s.budget, timeout: s.frameTimeout, conn: nc, stop: c.readStop, stopping: &c.stopping}
	return c
}

// stopReading makes the read loop return at its next read (graceful
// shutdown): requests already read still run and are answered.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
	c.stopOnce.Do(func() { close(c.readStop) })
}

// serve starts serving the connection.
func (c *conn) serve() {
	c.log.Debug("connection accepted")
	c.readLoop()
}

// readLoop runs while this goroutine holds the connection's reading role:
// read a frame, answer it or run its command inline, repeat. Running
// commands inline means a typical command's response goes out with no
// goroutine handoff; a command that runs long loses the reading role to a
// new goroutine (see watchdog), so the connection's other sessions keep
// running concurrently. A command the TA says may block (BlockingCommands)
// hands the role on before it runs, with no wait for the watchdog. The goroutine whose read fails tears the
// connection down.
func (c *conn) readLoop() {
	rt := &readerTurn{}
	c.reading.Store(rt)
	inTask := false
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Last resort: nothing here should panic (TA entry points have
		// their own recover), but a bug must cost one connection, not
		// the TA process.
		c.log.Error("panic in connection loop", zap.String("panic", fmt.Sprintf("%T", r)), zap.ByteString("stack", debug.Stack()))
		c.nc.Close()
		if !inTask || rt.state.CompareAndSwap(turnBusy, turnIdle) {
			c.teardown() // this goroutine still held the reading role
		}
	}()
	for {
		b, err := c.fr.next()
		if err != nil {
			c.logReadEnd(err)
			c.teardown()
			return
		}
		req := c.dispatch(b)
		if req == nil {
			continue
		}
		if c.srv.mayBlock(req) {
			// Hand the reading role on before a command that may wait
			// for long: the connection's other sessions are read at once.
			c.srv.earlyHandoffs.Add(1)
			rt.state.Store(turnHanded)
			go c.readLoop()
			inTask = true
			c.run(req)
			return
		}
		c.srv.wd.taskStarted(rt)
		inTask = true
		c.run(req)
		inTask = false
		if !rt.state.CompareAndSwap(turnBusy, turnIdle) {
			return // the watchdog handed the reading role on
		}
	}
}

func (c *conn) logReadEnd(err error) {
	var fe *wire.FormatError
	switch {
	case errors.As(err, &fe):
		c.log.Warn("unframeable request, closing connection", zap.String("reason", fe.Error()))
	case c.stopping.Load():
		c.log.Debug("connection draining for shutdown")
	case errors.Is(err, ErrFrameTimeout):
		c.log.Warn("incomplete request frame timed out, closing connection", zap.Duration("frame_timeout", c.srv.frameTimeout))
	case errors.Is(err, io.EOF):
		c.log.Debug("connection closed by client")
	default:
		c.log.Info("connection lost", zap.Error(err))
	}
}

// teardown runs once, in the goroutine whose read failed: wait for running
// commands, close the sessions and the connection.
func (c *conn) teardown() {
	c.tearOnce.Do(c.doTeardown)
}

func (c *conn) doTeardown() {
	defer c.srv.untrack(c)
	if !c.stopping.Load() {
		// The client is gone: running commands may abort.
		c.cancel()
	}
	c.fr.close()
	c.inflight.Wait()
	c.mu.Lock()
	sessions := c.sessions
	c.sessions = map[uint32]*session{}
	c.srv.sessions.Add(-int64(len(sessions)))
	c.mu.Unlock()
	for _, s := range sessions {
		c.closeTASession(s)
		c.log.Info("session closed", zap.Uint32("session", s.id), zap.String("why", "connection closed"))
	}
	c.cancel()
	c.nc.Close()
}

// dispatch handles one request frame. Requests the host answers itself
// (malformed, unknown or busy session, …) are answered at once; for the
// others it returns the request, whose command the caller runs (run). The
// request does not alias b: its memrefs are copied, into the request's
// pooled arena for a ParamBorrower TA. inflight counts a returned request
// from here until its response is sent.
func (c *conn) dispatch(b []byte) *request {
	r := getRequest()
	var err error
	if c.srv.borrow {
		r.arena, err = wire.DecodeFrameInto(&r.f, b, r.arena[:0])
	} else {
		r.f, err = wire.DecodeFrame(b)
	}
	ok := false
	switch {
	case err != nil:
		id, _ := wire.RequestID(b) // the reader checked the length prefix
		c.log.Warn("malformed request", zap.Uint32("request_id", id), zap.String("reason", err.Error()))
		c.reply(&wire.Frame{RequestID: id}, tee.ResultBadFormat, tee.OriginTEE)
	case r.f.Op == wire.OpOpenSession:
		ok = c.openSession(r)
	case r.f.Op == wire.OpInvoke:
		ok = c.invoke(r)
	case r.f.Op == wire.OpCloseSession:
		ok = c.closeSession(r)
	default:
		c.log.Warn("malformed request", zap.Uint32("request_id", r.f.RequestID), zap.String("reason", "response op sent to the host"))
		c.reply(&wire.Frame{RequestID: r.f.RequestID}, tee.ResultBadFormat, tee.OriginTEE)
	}
	if !ok {
		putRequest(r)
		return nil
	}
	return r
}

// run runs the command of a request dispatch returned, answers it and
// releases the request.
func (c *conn) run(r *request) {
	switch r.f.Op {
	case wire.OpOpenSession:
		c.runOpen(r)
	case wire.OpInvoke:
		c.runInvoke(r)
	case wire.OpCloseSession:
		c.runClose(r)
	}
	putRequest(r)
}

// reply sends a host-generated response without parameters.
func (c *conn) reply(req *wire.Frame, code tee.Result, origin tee.Origin) {
	c.send(&wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID, Session: req.Session, Result: code, Origin: origin})
}

// send writes a response. A write failure means the client is gone: close
// the connection so the read loop ends.
func (c *conn) send(resp *wire.Frame) {
	err := writeFrame(&c.wmu, c.nc, resp)
	if err == nil {
		return
	}
	if fe := (*wire.FormatError)(nil); errors.As(err, &fe) {
		// Only size can make a host response unencodable.
		c.log.Warn("response too large", zap.Uint32("request_id", resp.RequestID), zap.String("reason", fe.Error()))
		err = writeFrame(&c.wmu, c.nc, &wire.Frame{
			Op: wire.OpResponse, RequestID: resp.RequestID, Session: resp.Session,
			Result: tee.ResultExcessData, Origin: tee.OriginTEE,
		})
	}
	if err != nil {
		c.log.Debug("response not delivered", zap.Uint32("request_id", resp.RequestID), zap.Error(err))
		c.nc.Close()
	}
}

// refuse answers request f with code from the TEE core (TEEC_ORIGIN_TEE)
// without running it, and logs the command: an unknown or busy session, or
// no room for another session.
func (c *conn) refuse(op wire.Op, f *wire.Frame, session uint32, start time.Time, code tee.Result) {
	resp := &wire.Frame{Op: wire.OpResponse, RequestID: f.RequestID, Session: session, Result: code, Origin: tee.OriginTEE}
	c.logCommand(op, f, session, start, resp)
	c.send(resp)
}

// logCommand logs one answered request. A command that succeeded is
// per-request chatter — the HAL's NEXT_EVENT long poll alone is five a
// second on an idle device — so it is logged at debug; one that failed is
// worth a line at info.
func (c *conn) logCommand(op wire.Op, req *wire.Frame, session uint32, start time.Time, resp *wire.Frame) {
	level := zapcore.DebugLevel
	if resp.Result != tee.Success {
		level = zapcore.InfoLevel
	}
	if ce := c.log.Check(level, "command"); ce != nil {
		ce.Write(
			zap.Stringer("op", op),
			zap.Uint32("request_id", req.RequestID),
			zap.Uint32("session", session),
			zap.Uint32("cmd", req.Command),
			c.srv.commandField(op, req.Command),
			zap.Duration("duration", time.Since(start)),
			zap.Stringer("result", resp.Result),
			zap.Stringer("origin", resp.Origin),
		)
	}
}

// credentials returns what the kernel says about the client (SO_PEERCRED,
// recorded at connect(2)), asked once per connection; nil if the
// connection has none.
func (c *conn) credentials() *Credentials {
	c.credOnce.Do(func() {
		cred, err := peerCredentials(c.nc)
		if err != nil {
			c.log.Debug("no kernel credentials: identity logins refused", zap.Error(err))
			return
		}
		c.cred = &cred
	})
	return c.cred
}

// openSession admits an OPEN_SESSION or refuses it; true means r is to run.
func (c *conn) openSession(r *request) bool {
	r.start = time.Now()
	f := &r.f
	var code tee.Result
	if f.UUID != c.srv.uuid {
		code = tee.ResultItemNotFound // no such TA here (GPD_SPE_007 TEEC_OpenSession)
	} else {
		r.id, code = authenticate(f, c.credentials())
	}
	if code == tee.Success {
		c.mu.Lock()
		if c.reserved >= c.srv.maxSessions || !c.srv.reserveSession() {
			code = tee.ResultOutOfMemory
		} else {
			c.reserved++
			c.inflight.Add(1)
		}
		c.mu.Unlock()
	}
	if code != tee.Success {
		c.refuse(wire.OpOpenSession, f, 0, r.start, code)
		return false
	}
	return true
}

func (c *conn) runOpen(r *request) {
	defer c.inflight.Done()
	f := &r.f
	in := snapshot(&f.Params)
	ctx := withClient(c.ctx, r.id)
	ts, err := c.openTA(ctx, &f.Params)
	if err == nil && ts == nil {
		err = errors.New("TA returned neither a session nor an error")
	}
	resp := &r.resp
	c.response(resp, f, err, &in)
	c.mu.Lock()
	if resp.Result == tee.Success {
		s := &session{id: c.allocID(), ctx: ctx, ts: ts}
		c.sessions[s.id] = s
		resp.Session = s.id
	} else {
		c.reserved--
		c.srv.sessions.Add(-1)
	}
	c.mu.Unlock()
	if resp.Result != tee.Success && ts != nil {
		c.closeTASession(&session{ts: ts})
	}
	c.logCommand(wire.OpOpenSession, f, resp.Session, r.start, resp)
	c.send(resp)
}

// allocID returns an unused non-zero session id; c.mu must be held.
func (c *conn) allocID() uint32 {
	for {
		c.nextID++
		if _, used := c.sessions[c.nextID]; c.nextID != 0 && !used {
			return c.nextID
		}
	}
}

// idleSession returns session id with Success when it exists and runs no
// command; else the refusal: BAD_PARAMETERS for an unknown session (as
// OP-TEE answers), BUSY while it runs one (one command at a time per
// session). c.mu must be held.
func (c *conn) idleSession(id uint32) (*session, tee.Result) {
	s := c.sessions[id]
	switch {
	case s == nil:
		return nil, tee.ResultBadParameters
	case s.busy:
		return s, tee.ResultBusy
	}
	return s, tee.Success
}

// invoke admits an INVOKE or refuses it; true means r is to run.
func (c *conn) invoke(r *request) bool {
	r.start = time.Now()
	f := &r.f
	c.mu.Lock()
	s, code := c.idleSession(f.Session)
	if code == tee.Success && s.dead {
		code = tee.ResultTargetDead
	}
	if code == tee.Success {
		s.busy = true
		c.inflight.Add(1)
	}
	c.mu.Unlock()
	if code != tee.Success {
		c.refuse(wire.OpInvoke, f, f.Session, r.start, code)
		return false
	}
	r.s = s
	return true
}

func (c *conn) runInvoke(r *request) {
	defer c.inflight.Done()
	s, f, resp := r.s, &r.f, &r.resp
	in := snapshot(&f.Params)
	err := c.invokeTA(s, f)
	c.response(resp, f, err, &in)
	resp.Session = s.id
	c.mu.Lock()
	s.busy = false
	if errors.Is(err, errPanicked) {
		s.dead = true
	}
	c.mu.Unlock()
	c.logCommand(wire.OpInvoke, f, s.id, r.start, resp)
	c.send(resp)
}

// closeSession admits a CLOSE_SESSION or refuses it; true means r is to
// run.
func (c *conn) closeSession(r *request) bool {
	r.start = time.Now()
	f := &r.f
	c.mu.Lock()
	s, code := c.idleSession(f.Session)
	if code == tee.Success {
		delete(c.sessions, f.Session)
		c.reserved--
		c.srv.sessions.Add(-1)
		c.inflight.Add(1)
	}
	c.mu.Unlock()
	if code != tee.Success {
		c.refuse(wire.OpCloseSession, f, f.Session, r.start, code)
		return false
	}
	r.s = s
	return true
}

func (c *conn) runClose(r *request) {
	defer c.inflight.Done()
	f, resp := &r.f, &r.resp
	c.closeTASession(r.s)
	*resp = wire.Frame{Op: wire.OpResponse, RequestID: f.RequestID, Session: f.Session, Result: tee.Success, Origin: tee.OriginTEE}
	c.logCommand(wire.OpCloseSession, f, f.Session, r.start, resp)
	c.send(resp)
}

// closeTASession calls TASession.Close, containing a panic.
func (c *conn) closeTASession(s *session) {
	defer c.recoverTA(new(error))
	s.ts.Close()
}

// errPanicked marks a TA entry point that panicked.
var errPanicked = errors.New("TA panicked")

// openTA runs TA.OpenSession and invokeTA TASession.Invoke, each turning a
// panic into errPanicked (recoverTA).
func (c *conn) openTA(ctx context.Context, p *tee.Params) (ts TASession, err error) {
	defer c.recoverTA(&err)
	return c.srv.ta.OpenSession(ctx, p)
}

func (c *conn) invokeTA(s *session, f *wire.Frame) (err error) {
	defer c.recoverTA(&err)
	return s.ts.Invoke(s.ctx, f.Command, &f.Params)
}

// recoverTA, deferred by a TA entry point's caller, turns a panic into
// errPanicked in *err (logged with its type and stack, never its value,
// which may hold secrets).
func (c *conn) recoverTA(err *error) {
	if r := recover(); r != nil {
		c.log.Error("TA panic", zap.String("panic", fmt.Sprintf("%T", r)), zap.ByteString("stack", debug.Stack()))
		*err = errPanicked
	}
}
