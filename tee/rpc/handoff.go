package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A command that has run inline for handoffMin when the watchdog looks
// loses the connection's reading role to a new goroutine. The watchdog
// looks every handoffMin after it last had to hand off, backing off to
// every handoffMax while no command runs that long: its wake-ups cost the
// round trip of every short command on a small machine. A request for
// another session on the same connection therefore waits behind a long
// command for at most about handoffMax + handoffMin — unless the TA marks
// the command as one that may block (BlockingCommands, Route.Blocks): the
// host then hands the reading role on before running it, and the other
// session's request is read at once.
const (
	handoffMin = time.Millisecond
	handoffMax = 8 * time.Millisecond
)

// watchdogIdleTicks is how many ticks without any command the watchdog
// makes before it parks (no CPU use while the TA is idle).
const watchdogIdleTicks = 100

// States of a reading goroutine.
const (
	turnIdle   int32 = iota // reading, or dispatching without a command
	turnBusy                // running a command inline
	turnHanded              // the watchdog gave the reading role away
)

// readerTurn is the state of one reading goroutine, shared with the
// watchdog.
type readerTurn struct {
	state atomic.Int32
	since atomic.Int64 // monotonic ns at which the current command started
}

var monoEpoch = time.Now()

// mono returns monotonic nanoseconds.
func mono() int64 { return int64(time.Since(monoEpoch)) }

// watchdog is one goroutine per server that, while commands run, hands the
// reading role of any connection whose inline command has run for
// handoffMin to a new goroutine.
//
// Why not a timer per command: arming a runtime timer wakes another thread
// (netpollBreak or wakep) on every command, which costs as much as a third
// of a cross-process round trip on a 2-CPU machine. The watchdog costs one
// wake per tick while busy and nothing while idle.
type watchdog struct {
	srv      *Server
	start    sync.Once
	parked   atomic.Bool
	kick     chan struct{}
	lastTask atomic.Int64
	handoffs atomic.Int64 // reading roles handed on by scan
}

func newWatchdog(s *Server) *watchdog {
	return &watchdog{srv: s, kick: make(chan struct{}, 1)}
}

// taskStarted marks rt busy and makes sure the watchdog is ticking.
func (w *watchdog) taskStarted(rt *readerTurn) {
	now := mono()
	rt.since.Store(now)
	rt.state.Store(turnBusy)
	w.lastTask.Store(now)
	if w.srv.watchdogOff {
		return
	}
	w.start.Do(func() { go w.run(w.srv.baseCtx) })
	if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
		w.kick <- struct{}{}
	}
}

func (w *watchdog) run(ctx context.Context) {
	period := handoffMin
	t := time.NewTimer(period)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		now := mono()
		busy, handed := w.scan(now)
		if handed {
			period = handoffMin
		} else {
			period = min(2*period, handoffMax)
		}
		if busy || now-w.lastTask.Load() < int64(period) {
			idle = 0
			t.Reset(period)
			continue
		}
		if idle++; idle < watchdogIdleTicks {
			t.Reset(period)
			continue
		}
		// Park. A command starting after parked is set kicks us; one that
		// started just before is seen by the re-check.
		w.parked.Store(true)
		if b, _ := w.scan(mono()); b || w.lastTask.Load() >= now {
			if !w.parked.CompareAndSwap(true, false) {
				<-w.kick // a command un-parked us and is sending the kick
			}
		} else {
			select {
			case <-w.kick:
			case <-ctx.Done():
				return
			}
		}
		idle = 0
		period = handoffMin
		t.Reset(period)
	}
}

// scan hands off every connection whose inline command has run for
// handoffMin and reports whether any command is running inline and whether
// it handed any off.
func (w *watchdog) scan(now int64) (busy, handed bool) {
	w.srv.mu.Lock()
	defer w.srv.mu.Unlock()
	for c := range w.srv.conns {
		rt := c.reading.Load()
		if rt == nil || rt.state.Load() != turnBusy {
			continue
		}
		busy = true
		if now-rt.since.Load() >= int64(handoffMin) && rt.state.CompareAndSwap(turnBusy, turnHanded) {
			handed = true
			w.handoffs.Add(1)
			go c.readLoop()
		}
	}
	return busy, handed
}
