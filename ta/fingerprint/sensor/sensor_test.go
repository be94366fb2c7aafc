package sensor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestItemValidate(t *testing.T) {
	s := matcher.Sample{Width: 10, Height: 10}
	tests := []struct {
		name string
		it   Item
		ok   bool
	}{
		{"sample", Item{Kind: KindSample, Sample: s}, true},
		{"invalid sample", Item{Kind: KindSample}, false},
		{"sample with a code", Item{Kind: KindSample, Sample: s, Code: 1}, false},
		{"acquired GOOD", Item{Kind: KindAcquired}, true},
		{"acquired TOO_FAST", Item{Kind: KindAcquired, Code: 5}, true},
		{"acquired vendor", Item{Kind: KindAcquired, Code: AcquiredVendor, Vendor: 3}, true},
		{"acquired 7", Item{Kind: KindAcquired, Code: 7}, false},
		{"acquired -1", Item{Kind: KindAcquired, Code: -1}, false},
		{"vendor code with PARTIAL", Item{Kind: KindAcquired, Code: 1, Vendor: 3}, false},
		{"acquired with a sample", Item{Kind: KindAcquired, Sample: s}, false},
		{"no finger", Item{Kind: KindNoFinger}, true},
		{"no finger with a code", Item{Kind: KindNoFinger, Code: 3}, false},
		{"fault HW_UNAVAILABLE", Item{Kind: KindFault, Code: ErrorHWUnavailable}, true},
		{"fault UNABLE_TO_PROCESS", Item{Kind: KindFault, Code: ErrorUnableToProcess}, true},
		{"fault TIMEOUT", Item{Kind: KindFault, Code: ErrorTimeout}, true},
		{"fault vendor", Item{Kind: KindFault, Code: ErrorVendor, Vendor: 9}, true},
		{"fault NO_SPACE", Item{Kind: KindFault, Code: 4}, false},
		{"fault CANCELED", Item{Kind: KindFault, Code: 5}, false},
		{"fault LOCKOUT", Item{Kind: KindFault, Code: 7}, false},
		{"fault 0", Item{Kind: KindFault}, false},
		{"vendor code with HW_UNAVAILABLE", Item{Kind: KindFault, Code: 1, Vendor: 2}, false},
		{"kind 0", Item{}, false},
	}
	for _, tc := range tests {
		err := tc.it.Validate()
		if tc.ok {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorIs(t, err, ErrInvalid, tc.name)
		}
	}
}

// TestCaptureQueue: captures take items in order, block on an empty queue
// (counted in Waiting) and give up with the context.
func TestCaptureQueue(t *testing.T) {
	s := New()
	require.NoError(t, s.Push(Item{Kind: KindAcquired, Code: 1}))
	require.NoError(t, s.Push(Item{Kind: KindNoFinger}))
	it, err := s.Capture(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, Item{Kind: KindAcquired, Code: 1}, it)
	it, err = s.Capture(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, KindNoFinger, it.Kind)
	assert.Equal(t, Status{Captures: 2}, s.Status())

	got := make(chan Item, 1)
	go func() {
		it, _ := s.Capture(testCtx(t))
		got <- it
	}()
	require.NoError(t, s.WaitForCapture(testCtx(t), 1))
	assert.Equal(t, 1, s.Status().Waiting)
	require.NoError(t, s.Present(matcher.Sample{Width: 1, Height: 1}))
	assert.Equal(t, KindSample, (<-got).Kind)

	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	_, err = s.Capture(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, s.Status().Waiting)
}

// TestCaptureLatencyInterrupted: an item whose latency is interrupted goes
// back to the head of the queue.
func TestCaptureLatencyInterrupted(t *testing.T) {
	s := New()
	require.NoError(t, s.SetLatency(time.Hour/120))
	require.NoError(t, s.Push(Item{Kind: KindAcquired, Code: 2}))
	require.NoError(t, s.Push(Item{Kind: KindAcquired, Code: 3}))
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
	defer cancel()
	_, err := s.Capture(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, s.SetLatency(0))
	it, err := s.Capture(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, int32(2), it.Code, "the interrupted item comes first")
	assert.ErrorIs(t, s.SetLatency(-1), ErrInvalid)
	assert.ErrorIs(t, s.SetLatency(MaxLatency+1), ErrInvalid)
}

// TestStickyFault: a set fault is what every capture returns, ahead of the
// queue, until cleared; Reset clears everything.
func TestStickyFault(t *testing.T) {
	s := New()
	require.NoError(t, s.Push(Item{Kind: KindNoFinger}))
	require.NoError(t, s.SetFault(ErrorVendor, 77))
	for range 3 {
		it, err := s.Capture(testCtx(t))
		require.NoError(t, err)
		assert.Equal(t, Item{Kind: KindFault, Code: ErrorVendor, Vendor: 77}, it)
	}
	assert.Equal(t, 1, s.Status().Queued)
	s.ClearFault()
	it, err := s.Capture(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, KindNoFinger, it.Kind)
	assert.ErrorIs(t, s.SetFault(5, 0), ErrInvalid)

	require.NoError(t, s.SetFault(ErrorHWUnavailable, 0))
	require.NoError(t, s.SetLatency(time.Millisecond))
	require.NoError(t, s.Push(Item{Kind: KindNoFinger}))
	s.Reset()
	st := s.Status()
	assert.Equal(t, Status{Captures: st.Captures}, st)
}

func TestQueueFull(t *testing.T) {
	s := New()
	for range MaxQueue {
		require.NoError(t, s.Push(Item{Kind: KindNoFinger}))
	}
	assert.ErrorIs(t, s.Push(Item{Kind: KindNoFinger}), ErrQueueFull)
	assert.ErrorIs(t, s.Push(Item{Kind: 9}), ErrInvalid)
}
