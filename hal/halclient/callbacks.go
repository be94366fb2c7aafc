package halclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
)

// Errors of a callback stream.
var (
	// ErrProtocol means the HAL broke the SetNotify stream's rules: the
	// first message was not notify_registered, or a later one carried no
	// callback.
	ErrProtocol = errors.New("halclient: callback stream protocol violation")
	// ErrStreamEnded is what Next returns once the stream has ended and
	// every callback has been read; Err says why it ended.
	ErrStreamEnded = errors.New("halclient: callback stream ended")
)

// Callbacks is the client end of one setNotify: the IBiometricsFingerprintClientCallback
// the HAL calls. Callbacks are queued without bound on the client side (a
// slow reader never makes the HAL drop them) and delivered in order on C.
type Callbacks struct {
	// DeviceID is what setNotify returned (never 0 from a conforming HAL).
	DeviceID uint64

	c      chan hidl.Callback
	cancel context.CancelFunc
	done   chan struct{} // closed when the receiver has exited
	quit   chan struct{} // closed by Close: stop forwarding
	once   sync.Once

	mu    sync.Mutex
	queue []hidl.Callback
	wake  chan struct{} // capacity 1: the receiver queued something
	err   error         // why the stream ended; set before done closes
}

// SetNotify is setNotify(callback): it registers a new callback with the
// HAL (replacing any earlier one, whose stream then ends) and returns once
// the HAL has confirmed it, with the deviceId. ctx bounds that wait only;
// the stream lives until Close, the Client's Close, or the HAL ends it.
func (c *Client) SetNotify(ctx context.Context) (*Callbacks, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // abandon the stream if ctx ends before registration
	stream, err := c.rpc.SetNotify(sctx, &halpb.SetNotifyRequest{})
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if !stop() {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("halclient: setNotify: %w", err)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("halclient: setNotify: %w", err)
	}
	if !halpb.IsRegistered(first) {
		cancel()
		return nil, fmt.Errorf("%w: first message is not notify_registered", ErrProtocol)
	}
	cb := &Callbacks{
		DeviceID: first.GetDeviceId(),
		c:        make(chan hidl.Callback),
		cancel:   cancel,
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	go cb.receive(stream)
	go cb.forward()
	return cb, nil
}

// receive queues every callback of the stream until it ends.
func (n *Callbacks) receive(stream interface {
	Recv() (*halpb.ClientCallback, error)
}) {
	var err error
	for {
		var m *halpb.ClientCallback
		m, err = stream.Recv()
		if err != nil {
			break
		}
		var cb hidl.Callback
		cb, err = halpb.ToCallback(m)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
			break
		}
		n.mu.Lock()
		n.queue = append(n.queue, cb)
		n.mu.Unlock()
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	if errors.Is(err, io.EOF) {
		err = ErrStreamEnded
	}
	n.mu.Lock()
	n.err = err
	n.mu.Unlock()
	n.cancel()
	close(n.done)
}

// forward moves queued callbacks to C in order and closes C once the
// stream has ended and the queue is empty.
func (n *Callbacks) forward() {
	defer close(n.c)
	for {
		n.mu.Lock()
		var next hidl.Callback
		have := len(n.queue) > 0
		if have {
			next = n.queue[0]
			n.queue[0] = nil
			n.queue = n.queue[1:]
		}
		n.mu.Unlock()
		if have {
			select {
			case n.c <- next:
			case <-n.quit:
				return
			}
			continue
		}
		select {
		case <-n.quit:
			return
		case <-n.wake:
		case <-n.done:
			n.mu.Lock()
			empty := len(n.queue) == 0
			n.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// C delivers the callbacks in the order the HAL made them. It is closed
// after the stream ends and every callback has been delivered, or at
// Close.
func (n *Callbacks) C() <-chan hidl.Callback { return n.c }

// Next returns the next callback. It returns ctx's error if ctx ends first,
// and an error wrapping ErrStreamEnded (or the stream's failure) once the
// stream has ended and been drained.
func (n *Callbacks) Next(ctx context.Context) (hidl.Callback, error) {
	select {
	case cb, ok := <-n.c:
		if !ok {
			return nil, n.endErr()
		}
		return cb, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WaitFor returns the first callback for which match is true, and the
// callbacks read before it (not matching). It fails like Next.
func (n *Callbacks) WaitFor(ctx context.Context, match func(hidl.Callback) bool) (hidl.Callback, []hidl.Callback, error) {
	var skipped []hidl.Callback
	for {
		cb, err := n.Next(ctx)
		if err != nil {
			return nil, skipped, err
		}
		if match(cb) {
			return cb, skipped, nil
		}
		skipped = append(skipped, cb)
	}
}

func (n *Callbacks) endErr() error {
	err := n.Err()
	if err == nil || errors.Is(err, ErrStreamEnded) {
		return ErrStreamEnded
	}
	return fmt.Errorf("%w: %w", ErrStreamEnded, err)
}

// Err returns nil while the stream is open, and afterwards why it ended:
// ErrStreamEnded for a clean end, a gRPC status error otherwise (Aborted
// when a newer setNotify replaced this callback, Unavailable when the HAL
// went away, Canceled after Close).
func (n *Callbacks) Err() error {
	select {
	case <-n.done:
	default:
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Done is closed when the stream has ended (callbacks may still be queued
// on C).
func (n *Callbacks) Done() <-chan struct{} { return n.done }

// Close ends the stream on the client side and discards callbacks not yet
// read; C is closed. For the HAL this is setNotify(null): until a new
// SetNotify, its callbacks are dropped. Close is idempotent.
func (n *Callbacks) Close() {
	n.once.Do(func() { close(n.quit) })
	n.cancel()
	<-n.done
}
