package rpc

import (
	"container/list"
	"errors"
	"sync"
	"time"
)

// errBudgetStopped is returned by budget.acquire when the reader was told
// to stop (graceful shutdown or connection teardown).
var errBudgetStopped = errors.New("rpc: stopped while waiting for frame budget")

// budget is a TA-wide byte semaphore bounding the memory held in large,
// incomplete frames (Server.frameBudget, docs/protocol.md §1.6). Waiters
// are served first come, first served, so a large request cannot be
// starved by a stream of small ones; a reader that cannot get budget stops
// reading, and the bytes wait in the kernel's socket buffer.
type budget struct {
	mu      sync.Mutex
	size    int64
	free    int64
	waiters list.List // of *budgetWaiter, FIFO
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newBudget(size int64) *budget {
	return &budget{size: size, free: size}
}

// tryAcquire takes n bytes if they are free and nobody waits.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() == 0 && b.free >= n {
		b.free -= n
		return true
	}
	return false
}

// acquire takes n bytes (n ≤ size), waiting until they are free, deadline
// passes (os.ErrDeadlineExceeded, wrapped by ErrFrameTimeout) or stop is
// closed (errBudgetStopped).
func (b *budget) acquire(n int64, deadline time.Time, stop <-chan struct{}) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.mu.Unlock()

	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-w.ready:
		return nil
	case <-timeout:
		err = ErrFrameTimeout
	case <-stop:
		err = errBudgetStopped
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted while we gave up: give it back.
		b.free += n
	default:
		b.waiters.Remove(e)
	}
	b.grantLocked()
	b.mu.Unlock()
	return err
}

// release returns n bytes and wakes the waiters that now fit.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked grants the head waiters in order while their bytes fit.
func (b *budget) grantLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.free < w.n {
			return
		}
		b.free -= w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// inUse returns the bytes currently held (for tests and logs).
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}
