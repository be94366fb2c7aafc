package tee

import (
	"sync"
	"time"
)

// Clock is the device boot clock: milliseconds since the emulated device
// booted (docs/architecture.md rule 6). HAT timestamps, throttling windows and expiries
// all read it. It is the analogue of Android's CLOCK_BOOTTIME-based
// GetMillisecondsSinceBoot (system/gatekeeper) and Trusty's trusty_gettime.
type Clock interface {
	NowMs() uint64
}

// FakeClock is a Clock that tests drive by hand. It is safe for concurrent
// use.
type FakeClock struct {
	mu sync.Mutex
	ms uint64
}

// NewFakeClock returns a FakeClock reading startMs.
func NewFakeClock(startMs uint64) *FakeClock { return &FakeClock{ms: startMs} }

// NowMs returns the current fake time.
func (c *FakeClock) NowMs() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ms
}

// Advance moves the fake time forward by d (rounded down to ms).
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ms += uint64(d / time.Millisecond)
}

// Set sets the fake time.
func (c *FakeClock) Set(ms uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ms = ms
}
