package boot

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

var (
	_ tee.Clock          = (*Clock)(nil)
	_ envelope.NanoClock = (*Clock)(nil)
)

func TestClockStartsNearZero(t *testing.T) {
	origin, err := BootTimeNs()
	require.NoError(t, err)
	assert.NotZero(t, origin)
	c := NewClock(origin)
	assert.Equal(t, origin, c.OriginNs())
	assert.Less(t, c.NowMs(), uint64(1000), "a fresh device clock reads well under a second")
}

func TestClockMonotonic(t *testing.T) {
	origin, err := BootTimeNs()
	require.NoError(t, err)
	c := NewClock(origin)
	prev := c.NowNs()
	for range 10000 {
		now := c.NowNs()
		require.GreaterOrEqual(t, now, prev)
		prev = now
	}
	before := c.NowNs()
	time.Sleep(3 * time.Millisecond)
	assert.GreaterOrEqual(t, c.NowNs()-before, uint64(3*time.Millisecond), "CLOCK_BOOTTIME advances at least as much as a sleep")
	assert.GreaterOrEqual(t, c.NowMs(), uint64(3))
}

func TestClockConcurrentMonotonic(t *testing.T) {
	origin, err := BootTimeNs()
	require.NoError(t, err)
	c := NewClock(origin)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			prev := uint64(0)
			for range 2000 {
				now := c.NowNs()
				assert.GreaterOrEqual(t, now, prev)
				prev = now
			}
		})
	}
	wg.Wait()
}

// TestClockShared: two processes' clocks built from one origin agree; a
// device booted earlier reads later.
func TestClockShared(t *testing.T) {
	origin, err := BootTimeNs()
	require.NoError(t, err)
	a, b := NewClock(origin), NewClock(origin)
	t1 := a.NowNs()
	t2 := b.NowNs()
	t3 := a.NowNs()
	assert.LessOrEqual(t, t1, t2)
	assert.LessOrEqual(t, t2, t3)

	older := NewClock(origin / 2)
	assert.GreaterOrEqual(t, older.NowNs(), origin/2+t3)
}

func TestClockOriginInFuture(t *testing.T) {
	now, err := BootTimeNs()
	require.NoError(t, err)
	c := NewClock(now + uint64(time.Hour))
	assert.Zero(t, c.NowNs(), "an origin after now reads 0, never wraps")
	assert.Zero(t, c.NowMs())
}
