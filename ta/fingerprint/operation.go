package fingerprint

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// opKind names what an operation does (for logs).
type opKind string

const (
	opEnroll       opKind = "enroll"
	opAuthenticate opKind = "authenticate"
	opRemove       opKind = "remove"
	opEnumerate    opKind = "enumerate"
)

// operation is the one thing the TA is doing on the HAL's behalf. ENROLL
// and AUTHENTICATE run one in a goroutine; REMOVE and ENUMERATE hold one
// while they run synchronously, so that every command that would start
// another sees SYS_EBUSY.
type operation struct {
	kind   opKind
	cancel context.CancelFunc
	done   chan struct{} // closed when the operation has ended
}

// begin registers a new operation, or reports SYS_EBUSY. The caller must
// end it with finish.
func (t *TA) begin(kind opKind) (*operation, context.Context, fpproto.RequestStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.op != nil {
		t.Log.Info("busy", zap.String("running", string(t.op.kind)), zap.String("requested", string(kind)))
		return nil, nil, fpproto.SysEBUSY
	}
	if t.closed {
		return nil, nil, fpproto.SysEIO
	}
	ctx, cancel := context.WithCancel(context.Background())
	op := &operation{kind: kind, cancel: cancel, done: make(chan struct{})}
	t.op = op
	return op, ctx, fpproto.SysOK
}

// finish ends op: it queues final (if any) and clears the operation in one
// step, so a HAL that sees the last event can start the next operation
// without racing into SYS_EBUSY.
func (t *TA) finish(op *operation, final *fpproto.Event) {
	t.mu.Lock()
	if final != nil {
		t.pushLocked(*final)
	}
	if t.op == op {
		t.op = nil
	}
	t.mu.Unlock()
	op.cancel()
	close(op.done)
}

// run starts body as operation op in its own goroutine; body returns the
// event that ends the operation, or nil when it stopped because it was
// cancelled (CANCEL queues ERROR_CANCELED itself).
func (t *TA) run(op *operation, ctx context.Context, body func(ctx context.Context) *fpproto.Event) {
	go func() {
		final := body(ctx)
		if final != nil {
			// An operation's success (a match, an enrollment) is routine,
			// one line per payment at info would cost every payment a log
			// write and the launcher a wake-up (docs/benchmarks.md, issue
			// 14 profiles): debug. How one failed stays info.
			lvl := zap.DebugLevel
			if final.Type == fpproto.MsgError {
				lvl = zap.InfoLevel
			}
			if ce := t.Log.Check(lvl, "operation ended"); ce != nil {
				ce.Write(zap.String("op", string(op.kind)), zap.Stringer("event", final))
			}
		}
		t.finish(op, final)
	}()
}

// push queues an event for NEXT_EVENT.
func (t *TA) push(e fpproto.Event) {
	t.mu.Lock()
	t.pushLocked(e)
	t.mu.Unlock()
}

func (t *TA) pushLocked(e fpproto.Event) {
	if len(t.events) >= fpproto.MaxQueuedEvents {
		t.events = t.events[1:]
		t.dropped++
		t.Log.Warn("event queue full: oldest event dropped", zap.Uint64("dropped", t.dropped))
	}
	t.events = append(t.events, e)
	close(t.evChanged)
	t.evChanged = make(chan struct{})
}

// NextEvent returns the next queued event, waiting up to wait (bounded by
// MaxEventWait) for one; an event of type MsgNone if none came. It also
// returns how many events are still queued.
func (t *TA) NextEvent(ctx context.Context, wait time.Duration) (fpproto.Event, int) {
	wait = min(max(wait, 0), fpproto.MaxEventWait)
	var timer <-chan time.Time
	for {
		t.mu.Lock()
		if len(t.events) > 0 {
			e := t.events[0]
			t.events[0] = fpproto.Event{}
			t.events = t.events[1:]
			n := len(t.events)
			t.mu.Unlock()
			return e, n
		}
		ch := t.evChanged
		t.mu.Unlock()
		if wait == 0 {
			return fpproto.Event{Type: fpproto.MsgNone}, 0
		}
		if timer == nil {
			tm := time.NewTimer(wait)
			defer tm.Stop()
			timer = tm.C
		}
		select {
		case <-ch:
		case <-timer:
			return fpproto.Event{Type: fpproto.MsgNone}, 0
		case <-ctx.Done():
			return fpproto.Event{Type: fpproto.MsgNone}, 0
		}
	}
}

// Cancel is cancel(): it ends the running operation and waits until it
// has ended (its last event queued), then queues ERROR_CANCELED — also when
// nothing was running (VTS CancelTest) or the operation finished on its own
// meanwhile. The PRE_ENROLL challenge is left alone.
func (t *TA) Cancel() {
	t.mu.Lock()
	op := t.op
	t.mu.Unlock()
	if op != nil {
		op.cancel()
		<-op.done
		t.Log.Info("operation canceled", zap.String("op", string(op.kind)))
	}
	t.push(fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0))
}

// Busy reports whether an operation is running.
func (t *TA) Busy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.op != nil
}
