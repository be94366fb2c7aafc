package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// TA is a trusted application as its host sees it: the
// TA_OpenSessionEntryPoint of GPD_SPE_010 §4.9.
//
// OpenSession receives the OPEN_SESSION parameters (most TAs expect none:
// check with params.Expect()). It may write outputs like Invoke. It is
// called concurrently for different connections and sessions.
type TA interface {
	OpenSession(ctx context.Context, params *tee.Params) (TASession, error)
}

// TASession is one open session: TA_InvokeCommandEntryPoint and
// TA_CloseSessionEntryPoint of GPD_SPE_010 §4.9.
//
// The host never calls Invoke concurrently on one session, nor Close while
// Invoke runs; Close is called exactly once, when the client closes the
// session, the connection drops, or the server shuts down.
//
// Invoke returning nil means TEEC_SUCCESS. An error with a *tee.Error in
// its chain is answered with that Code and its Origin (TEEC_ORIGIN_TRUSTED_APP
// when unset); any other error is answered TEEC_ERROR_GENERIC and its text
// stays in the TA's log. The context is cancelled when the client's
// connection drops or a forced shutdown begins.
//
// Parameters: Invoke must not change parameter types (the host answers
// TEEC_ERROR_GENERIC if it does). Values are returned with params.SetValue;
// output bytes with params.SetOutput — the host applies the GP short-buffer
// rule: if the bytes exceed the capacity the client offered, the client
// gets TEEC_ERROR_SHORT_BUFFER and the size needed instead. A TA may also
// return tee.ErrShortBuffer itself after setting params[i].Size to the size
// it needs. An INOUT memref the TA does not touch is returned as received.
//
// Memrefs: a TA's input memrefs are its own to keep, unless the TA is a
// ParamBorrower — then their bytes are valid only until the entry point
// returns, as GP's memory references are (GPD_SPE_010 §4.9).
type TASession interface {
	Invoke(ctx context.Context, cmd uint32, params *tee.Params) error
	Close()
}

// DefaultMaxSessions is the number of sessions (open or being opened) a
// host allows per connection (docs/protocol.md §1.6).
const DefaultMaxSessions = 64

// Limits of a TA host on what its clients can make it hold
// (docs/protocol.md §1.6, "Limits"). GPD_SPE_007 §4.4.2 names the results
// for refusing the excess: TEEC_ERROR_BUSY when the host is saturated,
// TEEC_ERROR_OUT_OF_MEMORY when a session cannot be allocated.
const (
	// DefaultMaxConns is the number of connections a host serves at once.
	// A connection beyond it gets TEEC_ERROR_BUSY (origin TEE) for its
	// first request and is closed. Each served connection costs the host
	// about 30 KiB when idle (read buffer, own frame buffer, goroutine).
	DefaultMaxConns = 2048
	// DefaultMaxTotalSessions is the number of sessions (open or being
	// opened) a host allows over all its connections; beyond it
	// OPEN_SESSION gets TEEC_ERROR_OUT_OF_MEMORY (origin TEE), like the
	// per-connection limit.
	DefaultMaxTotalSessions = 4096
	// DefaultFrameBudget bounds the bytes a host holds in request frames
	// larger than its connections' own 8 KiB buffers, over all
	// connections. A reader that cannot get budget stops reading (the
	// bytes wait in the kernel's socket buffer) until budget is returned
	// or its frame times out.
	DefaultFrameBudget = 8 << 20
	// DefaultFrameTimeout is how long a request frame may stay incomplete
	// (from the first read that had to wait for its rest, or for budget):
	// then the host closes the connection without a response.
	DefaultFrameTimeout = 10 * time.Second
)

// Refusing connections over the cap: the host waits at most refuseTimeout
// for the over-cap connection's first request (reading at most
// refuseReadMax bytes of it) to answer it TEEC_ERROR_BUSY, and refuses at
// most maxRefusing connections at once; beyond that it closes them at once.
const (
	refuseTimeout = time.Second
	refuseReadMax = 64 << 10
	maxRefusing   = 256
)

// Accept errors that mean "out of descriptors or memory for now"
// (accept(2): EMFILE, ENFILE, ENOBUFS, ENOMEM) are retried after a backoff
// doubling from acceptBackoffMin to acceptBackoffMax, never ending Serve:
// the host serves again once descriptors free up.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Option configures a Server.
type Option func(*Server)

// WithMaxSessions sets the per-connection session limit (n ≥ 1).
func WithMaxSessions(n int) Option {
	return func(s *Server) {
		if n >= 1 {
			s.maxSessions = n
		}
	}
}

// WithMaxConns sets the connection cap (n ≥ 1); default DefaultMaxConns.
func WithMaxConns(n int) Option {
	return func(s *Server) {
		if n >= 1 {
			s.maxConns = n
		}
	}
}

// WithMaxTotalSessions sets the TA-wide session limit (n ≥ 1); default
// DefaultMaxTotalSessions.
func WithMaxTotalSessions(n int) Option {
	return func(s *Server) {
		if n >= 1 {
			s.maxTotalSessions = n
		}
	}
}

// WithFrameBudget sets the TA-wide budget of bytes held in large request
// frames; it is raised to one maximum frame (wire.LengthLen +
// wire.MaxFrameLen) if smaller, so that any valid frame can be read. n < 0
// removes the budget: memory then grows with every byte every client
// sends (for tests that show why the budget exists).
func WithFrameBudget(n int64) Option {
	return func(s *Server) {
		s.frameBudget = n
	}
}

// WithFrameTimeout sets how long a request frame may stay incomplete
// (d > 0); default DefaultFrameTimeout.
func WithFrameTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.frameTimeout = d
		}
	}
}

// Server is the TA host: it serves one TA, identified by its UUID, on one or
// more listeners.
type Server struct {
	uuid        tee.UUID
	ta          TA
	log         *zap.Logger
	maxSessions int

	maxConns         int
	maxTotalSessions int
	frameBudget      int64
	frameTimeout     time.Duration
	budget           *budget          // nil when WithFrameBudget(n < 0)
	borrow           bool             // ta is a ParamBorrower: pooled request arenas
	blocking         BlockingCommands // nil unless ta is one
	earlyHandoffs    atomic.Int64     // reading handed on before a blocking command
	watchdogOff      bool             // tests: no watchdog, only early hand-offs
	sessions         atomic.Int64     // sessions open or being opened, all connections
	refusing         atomic.Int32     // over-cap connections being answered BUSY
	refusedSince     int              // guarded by mu
	refusedLogged    time.Time        // guarded by mu

	baseCtx context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	nextConn  uint64
	connWG    sync.WaitGroup
	wd        *watchdog
}

// NewServer returns a host for ta answering OPEN_SESSION on uuid. log
// should come from tee.NewLogger (it carries the "component" field); nil
// disables logging.
func NewServer(uuid tee.UUID, ta TA, log *zap.Logger, opts ...Option) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		uuid:        uuid,
		ta:          ta,
		log:         log.With(zap.Stringer("ta", uuid)),
		maxSessions: DefaultMaxSessions,
		baseCtx:     ctx,
		cancel:      cancel,
		listeners:   map[net.Listener]struct{}{},
		conns:       map[*conn]struct{}{},

		maxConns:         DefaultMaxConns,
		maxTotalSessions: DefaultMaxTotalSessions,
		frameBudget:      DefaultFrameBudget,
		frameTimeout:     DefaultFrameTimeout,
	}
	s.wd = newWatchdog(s)
	if pb, ok := ta.(ParamBorrower); ok && pb.BorrowsParams() {
		s.borrow = true
	}
	s.blocking, _ = ta.(BlockingCommands)
	for _, o := range opts {
		o(s)
	}
	if s.frameBudget >= 0 {
		s.budget = newBudget(max(s.frameBudget, wire.LengthLen+wire.MaxFrameLen))
	}
	return s
}

// Serve accepts connections on ln until Shutdown, serving each in its own
// goroutine. It returns ErrServerClosed after Shutdown, or the Accept error
// that stopped it. Timeouts and running out of descriptors or memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) do not stop it: it backs off and
// accepts again. A connection beyond the cap (WithMaxConns) is answered
// TEEC_ERROR_BUSY and closed. Serve closes ln when it returns (which for a Unix
// listener also removes the socket file).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("serving", zap.String("addr", ln.Addr().String()))

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if temporaryAcceptError(err) {
				backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
				s.log.Warn("accept", zap.Error(err), zap.Duration("retry_in", backoff))
				time.Sleep(backoff)
				continue
			}
			s.log.Error("accept failed, no longer serving", zap.Error(err))
			return err
		}
		backoff = 0
		if c := s.track(nc); c != nil {
			go c.serve()
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// temporaryAcceptError reports whether an Accept error is a timeout or a
// shortage that goes away: out of descriptors (EMFILE, per process; ENFILE,
// system-wide) or kernel memory (ENOBUFS, ENOMEM), as accept(2) lists them.
func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// track registers a new connection, or closes it if shutdown has begun, or
// refuses it (TEEC_ERROR_BUSY) if the connection cap is reached.
func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
		return nil
	}
	if len(s.conns) >= s.maxConns {
		s.refuse(nc)
		return nil
	}
	s.nextConn++
	c := newConn(s, nc, s.nextConn)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return c
}

// untrack forgets a connection after its teardown.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, stops
// reading new requests, lets running commands finish and answers them,
// closes every session (TASession.Close) and every connection. If ctx ends
// first, it cancels the commands' contexts, closes the connections at once
// and returns ctx.Err(); sessions are still closed once their commands
// return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stopReading()
	}

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		s.log.Info("shut down")
		return nil
	case <-ctx.Done():
		// Connections first, so that commands aborted by the cancellation
		// cannot answer: their clients see the TA go away.
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		s.cancel()
		s.log.Warn("forced shutdown", zap.Error(ctx.Err()))
		return ctx.Err()
	}
}
