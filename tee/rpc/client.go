package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
// bound to one TA socket). It is safe for concurrent use, and sessions on
// one Client run concurrently.
//
// There is no dedicated reader goroutine: a caller waiting for a response
// takes the reading role if no one holds it and reads, delivering other
// callers' responses (matched by request id) until its own arrives, then
// hands the role on. An uncontended call therefore costs one write and one
// read with no goroutine switch. A call abandoned on context cancellation
// is handed to a goroutine that waits for its late response, so the
// stream is always drained.
type Client struct {
	nc     net.Conn
	wmu    sync.Mutex
	rtoken chan struct{} // holding it (a send) grants the reading role
	fr     *frameReader  // used only by the holder of rtoken
	dead   chan struct{} // closed when the connection becomes unusable

	mu      sync.Mutex
	pending map[uint32]*call
	nextID  uint32
	err     error // set once the connection is unusable; returned by every later call
}

// call is one outstanding request. Its reply is delivered exactly once on
// ch, by the reader that reads it or by fail. Calls are pooled: once its
// waiter has received the reply, nothing else refers to a call (the reply
// was removed from pending before it was sent), and it is reused.
type call struct {
	ch chan reply // buffered: delivery never blocks
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan reply, 1)} }}

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
// the Client then owns. The connection must support read deadlines (they
// interrupt a reader whose context ends).
func NewClient(nc net.Conn) *Client {
	return &Client{
		nc:      nc,
		rtoken:  make(chan struct{}, 1),
		fr:      newFrameReader(nc),
		dead:    make(chan struct{}),
		pending: map[uint32]*call{},
	}
}

// Close closes the connection, which closes every session on it host-side.
// Calls still pending fail with an error wrapping ErrClientClosed.
func (c *Client) Close() error {
	c.fail(newCallError(tee.ResultBadState, tee.OriginAPI, ErrClientClosed))
	return nil
}

// Err returns nil while the connection is usable, and afterwards the error
// every call returns (matching tee.ErrTargetDead if the TA went away).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail makes the connection unusable: the first error sticks, the socket is
// closed and every pending call gets the error.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.dead)
	}
	err = c.err
	pending := c.pending
	c.pending = map[uint32]*call{}
	c.mu.Unlock()
	c.nc.Close()
	for _, cl := range pending {
		cl.ch <- reply{err: err}
	}
}

// roundTrip sends req (its RequestID is assigned here) and waits for the
// response. If ctx ends first it returns abandoned = true and a goroutine
// keeps waiting for the late response, then calls onAbandon with it (nil if
// the connection died first).
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
	cl := callPool.Get().(*call)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		callPool.Put(cl)
		return resp, false, err
	}
	req.RequestID = c.allocID()
	c.pending[req.RequestID] = cl
	c.mu.Unlock()

	if err := writeFrame(&c.wmu, c.nc, req); err != nil {
		// A partial frame may be on the wire: the stream is lost.
		c.fail(targetDead(err))
	}

	r, interrupted := c.await(ctx, cl)
	if !interrupted {
		callPool.Put(cl)
		return r.f, false, r.err
	}
	go func() {
		r, _ := c.await(context.Background(), cl)
		callPool.Put(cl)
		if onAbandon == nil {
			return
		}
		if r.err != nil {
			onAbandon(nil)
			return
		}
		onAbandon(&r.f)
	}()
	return resp, true, newCallError(tee.ResultCancel, tee.OriginAPI, ctx.Err())
}

// await waits for cl's reply, reading the connection itself whenever no
// other caller does. It reports interrupted if ctx ended first.
func (c *Client) await(ctx context.Context, cl *call) (r reply, interrupted bool) {
	for {
		select {
		case r := <-cl.ch:
			return r, false
		case <-ctx.Done():
			return r, true
		case c.rtoken <- struct{}{}:
			interrupted := c.readUntil(ctx, cl)
			<-c.rtoken
			if interrupted {
				return r, true
			}
		}
	}
}

// aLongTimeAgo is a read deadline in the past: it interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// readUntil holds the reading role: it reads and delivers responses until
// cl's reply is delivered or the connection fails, or reports interrupted
// when ctx ends first (the frame reader is resumable, so the next reader
// continues the stream intact).
func (c *Client) readUntil(ctx context.Context, cl *call) (interrupted bool) {
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.nc.SetReadDeadline(aLongTimeAgo)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
				c.nc.SetReadDeadline(time.Time{})
			}
		}()
	}
	for len(cl.ch) == 0 {
		b, err := c.fr.next()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				return true
			}
			var fe *wire.FormatError
			if errors.As(err, &fe) {
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			c.fail(targetDead(err))
			return false
		}
		if err := c.deliver(b); err != nil {
			c.fail(targetDead(err))
			return false
		}
	}
	return false
}

// deliver hands a response frame to the call waiting for it. Anything but
// a well-formed response to a pending request breaks the protocol.
func (c *Client) deliver(b []byte) error {
	f, err := wire.DecodeFrame(b)
	if err == nil && f.Op != wire.OpResponse {
		err = fmt.Errorf("host sent %v", f.Op)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c.mu.Lock()
	cl, ok := c.pending[f.RequestID]
	delete(c.pending, f.RequestID)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: response to unknown request %d", ErrProtocol, f.RequestID)
	}
	cl.ch <- reply{f: f}
	return nil
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

// PeerClosed reports, without a round trip, whether the connection is
// known to be unusable: a call failed on it, or the host closed its end
// (its process exited or dropped the connection), seen with a
// non-blocking MSG_PEEK that finds end-of-file. Bytes waiting are not
// consumed. A client that keeps a session open between uses (the HAL's bio
// relay) checks it before relying on the session. A connection that is not
// a Unix or TCP socket is never reported closed this way.
func (c *Client) PeerClosed() bool {
	if c.Err() != nil {
		return true
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var b [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		n, _, rerr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EINTR:
		case rerr != nil, n == 0:
			closed = true
		}
		return true // never wait: one look
	}); err != nil {
		return true
	}
	return closed
}
