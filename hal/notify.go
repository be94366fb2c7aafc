package hal

import (
	"errors"
	"sync"

	"github.com/fpemu/fpemu/hal/hidl"
)

// Why a Sink stopped receiving callbacks.
var (
	// ErrReplaced: a newer setNotify registered another callback (HIDL keeps
	// only the latest).
	ErrReplaced = errors.New("hal: callback replaced by a newer setNotify")
	// ErrOverflow: the client did not read its callbacks fast enough and
	// the sink's buffer (DefaultSinkBuffer for a gRPC stream) was full; the
	// HAL never blocks on a client, so it dropped this one — and the gRPC
	// server ends its stream with RESOURCE_EXHAUSTED at once.
	ErrOverflow = errors.New("hal: client callback queue overflowed")
	// ErrClosed: the HAL is shutting down.
	ErrClosed = errors.New("hal: HAL closed")
)

// DefaultSinkBuffer is how many callbacks may wait for a slow client
// beyond what the gRPC transport has taken (docs/protocol.md §10.3): the
// bound on what the HAL holds for one client.
const DefaultSinkBuffer = 1024

// Sink is one registered client callback (IBiometricsFingerprintClientCallback):
// the HAL queues callbacks on it in order and never blocks. The gRPC server
// makes one per SetNotify stream; in-process users may make their own.
type Sink struct {
	ch   chan hidl.Callback
	done chan struct{}
	once sync.Once
	err  error // set before done is closed
}

// NewSink returns a sink that holds up to buffer callbacks for its reader
// (DefaultSinkBuffer if buffer ≤ 0).
func NewSink(buffer int) *Sink {
	if buffer <= 0 {
		buffer = DefaultSinkBuffer
	}
	return &Sink{ch: make(chan hidl.Callback, buffer), done: make(chan struct{})}
}

// C delivers the callbacks. It is never closed; watch Done.
func (s *Sink) C() <-chan hidl.Callback { return s.ch }

// Done is closed when the HAL stops using the sink; Err says why. Callbacks
// queued before that are still on C.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Err returns why the sink was dropped (ErrReplaced, ErrOverflow,
// ErrClosed), or nil while it is in use.
func (s *Sink) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// send queues cb without blocking. A full queue ends the sink with
// ErrOverflow.
func (s *Sink) send(cb hidl.Callback) {
	select {
	case <-s.done:
		return
	default:
	}
	select {
	case s.ch <- cb:
	default:
		s.end(ErrOverflow)
	}
}

// end drops the sink; the first reason sticks.
func (s *Sink) end(reason error) {
	s.once.Do(func() {
		s.err = reason
		close(s.done)
	})
}
