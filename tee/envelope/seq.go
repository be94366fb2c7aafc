package envelope

import (
	"math"
	"sync"
)

// NanoClock reads the device boot clock with nanosecond resolution:
// nanoseconds since the emulated device booted. boot.Clock implements it.
type NanoClock interface {
	NowNs() uint64
}

// Sequencer issues a sender's sequence numbers. They must stay strictly
// increasing for the whole boot, also across a restart of the sender
// process, which keeps no state on disk. Next therefore returns
//
//	max(last + 1, boot clock in nanoseconds)
//
// The boot clock (CLOCK_BOOTTIME minus the device boot origin, shared by
// every process of the device) never goes back within a boot, and a
// restarted sender starts at the clock's current value, which exceeds every
// number issued before the restart unless the old process issued more than
// one number per nanosecond on average — impossible, as one Seal costs
// microseconds. Sub-millisecond resolution matters: a millisecond clock
// would let a sender that sealed twice in one millisecond, crashed and was
// restarted within that millisecond reissue a number. Keys change every
// boot, so numbers only need to be unique within one boot.
//
// A Sequencer is safe for concurrent use.
type Sequencer struct {
	mu    sync.Mutex
	last  uint64
	clock NanoClock
}

// NewSequencer returns a Sequencer driven by clock. With a nil clock it is
// a plain counter from 1, which is NOT restart-safe; use it only in tests.
func NewSequencer(clock NanoClock) *Sequencer { return &Sequencer{clock: clock} }

// Next returns the next sequence number, never zero and strictly greater
// than every earlier one from this Sequencer.
func (s *Sequencer) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == math.MaxUint64 {
		return 0, ErrSequenceExhausted
	}
	n := s.last + 1
	if s.clock != nil {
		n = max(n, s.clock.NowNs())
	}
	s.last = n
	return n, nil
}
