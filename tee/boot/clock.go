package boot

import (
	"sync/atomic"
	"time"
)

// Clock is the device boot clock (docs/architecture.md rule 6): the time since the
// launcher booted the emulated device, read from the host's CLOCK_BOOTTIME
// (monotonic, system-wide, counts suspend — the clock Android's
// GetMillisecondsSinceBoot and HAT timestamps use) minus the origin the
// launcher sampled at boot. Every process of one device builds its Clock
// from the same origin (Record.ClockOriginNs), so they all read the same
// time. It implements tee.Clock and envelope.NanoClock and is safe for
// concurrent use.
type Clock struct {
	originNs uint64
	lastNs   atomic.Uint64 // never report less than a value already reported
}

// NewClock returns the boot clock whose zero is originNs (a BootTimeNs
// reading).
func NewClock(originNs uint64) *Clock { return &Clock{originNs: originNs} }

// OriginNs returns the clock's origin.
func (c *Clock) OriginNs() uint64 { return c.originNs }

// NowNs returns nanoseconds since device boot. It never decreases, and it
// reads 0 if the host clock is before the origin (an origin from another
// host boot).
func (c *Clock) NowNs() uint64 {
	now, err := BootTimeNs()
	var d uint64
	if err == nil && now > c.originNs {
		d = now - c.originNs
	}
	for {
		last := c.lastNs.Load()
		if d <= last {
			return last
		}
		if c.lastNs.CompareAndSwap(last, d) {
			return d
		}
	}
}

// NowMs returns milliseconds since device boot (tee.Clock).
func (c *Clock) NowMs() uint64 { return c.NowNs() / uint64(time.Millisecond) }
