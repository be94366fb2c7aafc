package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// Invoker is the one-method transport TA client packages are written
// against: each TA command is a request type that fills params, calls
// Invoke and reads its outputs back (the go-tpm pattern). *Session
// implements it over a socket; tests may substitute an in-process one.
type Invoker interface {
	// Invoke runs command cmd with params, writing the TA's outputs back
	// into params. It returns nil for TEEC_SUCCESS and an error carrying a
	// *tee.Error (Code and Origin) otherwise.
	Invoke(ctx context.Context, cmd uint32, params *tee.Params) error
}

// Client is the CA side of one connection to a TA host (a TEEC_Context
// bound to one TA socket). It is safe for concurrent use: a reader
// goroutine matches responses to requests by request id, so sessions on one
// Client run concurrently.
type Client struct {
	nc   net.Conn
	wmu  sync.Mutex
	done chan struct{} // closed when the reader has exited

	mu      sync.Mutex
	pending map[uint32]*call
	nextID  uint32
	err     error // set once the connection is unusable; returned by every later call
}

// call is one outstanding request.
type call struct {
	ch chan reply // buffered: the reader never blocks on delivery
	// abandoned is set (under Client.mu, while the call is pending) when
	// the caller stopped waiting; the reader then runs onAbandon instead of
	// delivering.
	abandoned bool
	onAbandon func(resp *wire.Frame)
}

type reply struct {
	f   wire.Frame
	err error
}

// Dial connects to the TA host listening on the Unix socket at socketPath.
// If nothing answers there (the TA is not running) the error matches
// tee.ErrTargetDead.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		if ctx.Err() != nil {
			return nil, newCallError(tee.ResultCancel, tee.OriginAPI, ctx.Err())
		}
		return nil, targetDead(err)
	}
	return NewClient(nc), nil
}

// NewClient runs the client protocol over an established connection, which
// the Client then owns.
func NewClient(nc net.Conn) *Client {
	c := &Client{nc: nc, done: make(chan struct{}), pending: map[uint32]*call{}}
	go c.readLoop()
	return c
}

// Close closes the connection, which closes every session on it host-side.
// Calls still pending fail with an error wrapping ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = newCallError(tee.ResultBadState, tee.OriginAPI, ErrClientClosed)
	}
	c.mu.Unlock()
	c.nc.Close()
	<-c.done
	return nil
}

// Err returns nil while the connection is usable, and afterwards the error
// every call returns (matching tee.ErrTargetDead if the TA went away).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) readLoop() {
	defer close(c.done)
	fr := newFrameReader(c.nc)
	for {
		b, err := fr.next()
		if err != nil {
			var fe *wire.FormatError
			if errors.As(err, &fe) {
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			c.fail(targetDead(err))
			return
		}
		f, err := wire.DecodeFrame(b)
		if err == nil && f.Op != wire.OpResponse {
			err = fmt.Errorf("host sent %v", f.Op)
		}
		if err != nil {
			c.fail(targetDead(fmt.Errorf("%w: %w", ErrProtocol, err)))
			return
		}
		c.mu.Lock()
		cl, ok := c.pending[f.RequestID]
		delete(c.pending, f.RequestID)
		c.mu.Unlock()
		if !ok {
			c.fail(targetDead(fmt.Errorf("%w: response to unknown request %d", ErrProtocol, f.RequestID)))
			return
		}
		if cl.abandoned {
			if cl.onAbandon != nil {
				cl.onAbandon(&f)
			}
			continue
		}
		cl.ch <- reply{f: f}
	}
}

// fail makes the connection unusable: the first error sticks, the socket is
// closed and every pending call is failed (or, if abandoned, cleaned up).
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	pending := c.pending
	c.pending = map[uint32]*call{}
	c.mu.Unlock()
	c.nc.Close()
	for _, cl := range pending {
		if cl.abandoned {
			if cl.onAbandon != nil {
				cl.onAbandon(nil)
			}
			continue
		}
		cl.ch <- reply{err: err}
	}
}

// roundTrip sends req (its RequestID is assigned here) and waits for the
// response. abandoned reports that ctx ended first and the call was left to
// onAbandon, which the reader runs with the late response, or nil if the
// connection dies first.
func (c *Client) roundTrip(ctx context.Context, req *wire.Frame, onAbandon func(*wire.Frame)) (resp wire.Frame, abandoned bool, err error) {
	if err := ctx.Err(); err != nil {
		return resp, false, newCallError(tee.ResultCancel, tee.OriginAPI, err)
	}
	if _, err := req.EncodedLen(); err != nil {
		// The caller's parameters cannot be framed: too large, an unknown
		// type, or INOUT data beyond its capacity.
		code := tee.ResultBadParameters
		if errors.Is(err, wire.ErrFrameLength) {
			code = tee.ResultExcessData
		}
		return resp, false, newCallError(code, tee.OriginAPI, err)
	}
	cl := &call{ch: make(chan reply, 1), onAbandon: onAbandon}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return resp, false, err
	}
	req.RequestID = c.allocID()
	c.pending[req.RequestID] = cl
	c.mu.Unlock()

	if err := writeFrame(&c.wmu, c.nc, req); err != nil {
		// A partial frame may be on the wire: the stream is lost.
		c.fail(targetDead(err))
	}

	select {
	case r := <-cl.ch:
		return r.f, false, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if _, ok := c.pending[req.RequestID]; ok {
			cl.abandoned = true
			c.mu.Unlock()
			return resp, true, newCallError(tee.ResultCancel, tee.OriginAPI, ctx.Err())
		}
		c.mu.Unlock()
		// Delivered concurrently with the cancellation: use it.
		r := <-cl.ch
		return r.f, false, r.err
	}
}

// allocID returns a request id not in use; c.mu must be held.
func (c *Client) allocID() uint32 {
	for {
		c.nextID++
		if _, used := c.pending[c.nextID]; c.nextID != 0 && !used {
			return c.nextID
		}
	}
}
