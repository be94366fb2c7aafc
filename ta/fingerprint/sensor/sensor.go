package sensor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

// Kind says what a capture produced.
type Kind uint8

// Capture kinds.
const (
	// KindSample: a finger was on the sensor and the capture extracted
	// Sample (reported as ACQUIRED_GOOD).
	KindSample Kind = 1
	// KindAcquired: the capture produced only an acquisition message
	// (Code = FingerprintAcquiredInfo, Vendor for ACQUIRED_VENDOR); the
	// operation goes on.
	KindAcquired Kind = 2
	// KindNoFinger: no finger came; the operation ends with ERROR_TIMEOUT.
	KindNoFinger Kind = 3
	// KindFault: the sensor failed (Code = FingerprintError, Vendor for
	// ERROR_VENDOR); the operation ends with that error.
	KindFault Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindSample:
		return "sample"
	case KindAcquired:
		return "acquired"
	case KindNoFinger:
		return "no-finger"
	case KindFault:
		return "fault"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// AOSP codes the sensor accepts (HIDL 2.1 numbers).
const (
	AcquiredGood   int32 = 0 // ACQUIRED_GOOD
	AcquiredVendor int32 = 6 // ACQUIRED_VENDOR: the last acquired code

	ErrorHWUnavailable   int32 = 1 // ERROR_HW_UNAVAILABLE
	ErrorUnableToProcess int32 = 2 // ERROR_UNABLE_TO_PROCESS
	ErrorTimeout         int32 = 3 // ERROR_TIMEOUT
	ErrorVendor          int32 = 8 // ERROR_VENDOR
)

// Item is one scripted capture outcome, and what Capture returns.
type Item struct {
	Kind   Kind
	Sample matcher.Sample // KindSample
	Code   int32          // KindAcquired: acquired info; KindFault: error
	Vendor int32          // vendor code with ACQUIRED_VENDOR / ERROR_VENDOR
}

// Errors of the sensor.
var (
	// ErrInvalid: a scripted item with a code the sensor cannot produce, or
	// an invalid sample.
	ErrInvalid = errors.New("sensor: invalid item")
	// ErrQueueFull: MaxQueue items are already queued.
	ErrQueueFull = errors.New("sensor: queue full")
)

// Limits.
const (
	// MaxQueue bounds the scripted queue.
	MaxQueue = 64
	// MaxLatency bounds the capture latency.
	MaxLatency = time.Minute
)

// Validate checks an item: a valid sample; an acquired code GOOD..VENDOR;
// a fault of HW_UNAVAILABLE, UNABLE_TO_PROCESS, TIMEOUT or VENDOR (the
// errors a sensor can cause; NO_SPACE, CANCELED, UNABLE_TO_REMOVE and
// LOCKOUT are the TA's decisions). Vendor codes are non-zero only with the
// VENDOR codes.
func (it Item) Validate() error {
	switch it.Kind {
	case KindSample:
		if err := it.Sample.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if it.Code != 0 || it.Vendor != 0 {
			return fmt.Errorf("%w: sample with codes", ErrInvalid)
		}
		return nil
	case KindNoFinger:
		if it.Code != 0 || it.Vendor != 0 {
			return fmt.Errorf("%w: no-finger with codes", ErrInvalid)
		}
		return nil
	case KindAcquired:
		if it.Code < AcquiredGood || it.Code > AcquiredVendor {
			return fmt.Errorf("%w: acquired info %d", ErrInvalid, it.Code)
		}
		if it.Vendor != 0 && it.Code != AcquiredVendor {
			return fmt.Errorf("%w: vendor code with acquired info %d", ErrInvalid, it.Code)
		}
	case KindFault:
		switch it.Code {
		case ErrorHWUnavailable, ErrorUnableToProcess, ErrorTimeout, ErrorVendor:
		default:
			return fmt.Errorf("%w: fault error %d", ErrInvalid, it.Code)
		}
		if it.Vendor != 0 && it.Code != ErrorVendor {
			return fmt.Errorf("%w: vendor code with error %d", ErrInvalid, it.Code)
		}
	default:
		return fmt.Errorf("%w: kind %v", ErrInvalid, it.Kind)
	}
	if it.Sample.Minutiae != nil || it.Sample.Width != 0 || it.Sample.Height != 0 {
		return fmt.Errorf("%w: %v with a sample", ErrInvalid, it.Kind)
	}
	return nil
}

// Status is a snapshot of the sensor.
type Status struct {
	Queued   int    // scripted items waiting
	Waiting  int    // captures blocked on an empty queue (the TA waits for a finger)
	Captures uint64 // captures completed since the TA started
	Latency  time.Duration
	Fault    *Item // the sticky fault, if any
}

// Sensor is the virtual sensor. Its methods are safe for concurrent use:
// the TA captures while the control endpoint scripts.
type Sensor struct {
	mu       sync.Mutex
	queue    []Item
	changed  chan struct{} // closed and replaced whenever the state changes
	fault    *Item
	latency  time.Duration
	waiting  int
	captures uint64
}

// New returns an idle sensor: empty queue, no fault, no latency.
func New() *Sensor { return &Sensor{changed: make(chan struct{})} }

// signal wakes every waiter; s.mu must be held.
func (s *Sensor) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Push appends a validated item to the queue.
func (s *Sensor) Push(it Item) error {
	if err := it.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= MaxQueue {
		return fmt.Errorf("%w: %d items", ErrQueueFull, MaxQueue)
	}
	s.queue = append(s.queue, it)
	s.signal()
	return nil
}

// Present queues a sample: a finger on the sensor.
func (s *Sensor) Present(sample matcher.Sample) error {
	return s.Push(Item{Kind: KindSample, Sample: sample})
}

// SetFault makes every capture fail with fault (a KindFault item) until
// ClearFault; queued items wait behind it.
func (s *Sensor) SetFault(code, vendor int32) error {
	it := Item{Kind: KindFault, Code: code, Vendor: vendor}
	if err := it.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = &it
	s.signal()
	return nil
}

// ClearFault ends a sticky fault.
func (s *Sensor) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
	s.signal()
}

// SetLatency sets how long each capture takes once its item is available
// (0 to MaxLatency).
func (s *Sensor) SetLatency(d time.Duration) error {
	if d < 0 || d > MaxLatency {
		return fmt.Errorf("%w: latency %v outside 0..%v", ErrInvalid, d, MaxLatency)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
	return nil
}

// Reset empties the queue, clears the fault and the latency.
func (s *Sensor) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue, s.fault, s.latency = nil, nil, 0
	s.signal()
}

// Status returns a snapshot.
func (s *Sensor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Queued: len(s.queue), Waiting: s.waiting, Captures: s.captures, Latency: s.latency}
	if s.fault != nil {
		f := *s.fault
		st.Fault = &f
	}
	return st
}

// WaitForCapture blocks until at least n captures are waiting for an item,
// or ctx ends: a test's way to know the TA is reading the sensor.
func (s *Sensor) WaitForCapture(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		ok, ch := s.waiting >= n, s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Capture is the TA side: it waits for the next outcome — the sticky fault
// if set, else the next queued item — then for the latency, and returns it.
// It returns ctx's error if ctx ends first; an item whose latency was
// interrupted goes back to the head of the queue (the finger was never
// read).
func (s *Sensor) Capture(ctx context.Context) (Item, error) {
	s.mu.Lock()
	blocked := false // counted in s.waiting: blocked on an empty queue
	for s.fault == nil && len(s.queue) == 0 {
		if !blocked {
			blocked = true
			s.waiting++
			s.signal()
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			s.waiting--
			s.signal()
			s.mu.Unlock()
			return Item{}, ctx.Err()
		}
		s.mu.Lock()
	}
	if blocked {
		s.waiting--
	}
	var it Item
	fromQueue := s.fault == nil
	if fromQueue {
		it = s.queue[0]
		s.queue = s.queue[1:]
	} else {
		it = *s.fault
	}
	latency := s.latency
	s.signal()
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if fromQueue {
				s.mu.Lock()
				s.queue = append([]Item{it}, s.queue...)
				s.signal()
				s.mu.Unlock()
			}
			return Item{}, ctx.Err()
		}
	}
	s.mu.Lock()
	s.captures++
	s.signal()
	s.mu.Unlock()
	return it, nil
}
