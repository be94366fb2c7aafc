package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
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
type TASession interface {
	Invoke(ctx context.Context, cmd uint32, params *tee.Params) error
	Close()
}

// DefaultMaxSessions is the number of sessions (open or being opened) a
// host allows per connection (docs/protocol.md §1.6).
const DefaultMaxSessions = 64

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

// Server is the TA host: it serves one TA, identified by its UUID, on one or
// more listeners.
type Server struct {
	uuid        tee.UUID
	ta          TA
	log         *zap.Logger
	maxSessions int

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
	}
	s.wd = newWatchdog(s)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve accepts connections on ln until Shutdown, serving each in its own
// goroutine. It returns ErrServerClosed after Shutdown, or the Accept error
// that stopped it. Serve closes ln when it returns (which for a Unix
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", zap.Error(err), zap.Duration("retry_in", backoff))
				time.Sleep(backoff)
				continue
			}
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

// track registers a new connection, or closes it if shutdown has begun.
func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
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
