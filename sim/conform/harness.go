package conform

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/hal/vts"
)

// Timeout is VTS's kTimeout: how long every case waits for a callback.
const Timeout = vts.Timeout

// GroupID is VTS's kGroupId, the group of every VTS case.
const GroupID = vts.GroupID

// T is the state of one running case, in the manner of testing.T: the HAL
// connection, the case's callback stream and fixtures, and the outcome.
// Fatalf and Skipf end the case (runtime.Goexit); Errorf records a failure
// and lets the case go on.
type T struct {
	ctx context.Context
	r   *runner
	hal *halclient.Client
	cbs *halclient.Callbacks

	failures []string
	// received is every callback the case read from its own stream, in
	// order; listened says it registered one (a hal/vts body reads its
	// own, whose callbacks its failure names).
	received     []hidl.Callback
	receivedOver int // callbacks past maxReceived, counted only
	listened     bool
	skip         string
	note         string
	cleanups     []func(context.Context) error
}

// Errorf records a failure; the case goes on.
func (t *T) Errorf(format string, args ...any) {
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}

// Fatalf records a failure and ends the case.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Notef records how a passing case deviated from the check it ports (for
// example an AOSP precondition fpemu had to establish first); it is
// reported as the reason of the pass, so a PASS never hides an adaptation.
func (t *T) Notef(format string, args ...any) {
	t.note = fmt.Sprintf(format, args...)
}

// Skipf ends the case as skipped with the reason, unless it has already
// failed.
func (t *T) Skipf(format string, args ...any) {
	t.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// Cleanup registers f to run after the case, last registered first, with
// a fresh context; an error it returns fails the case.
func (t *T) Cleanup(f func(ctx context.Context) error) { t.cleanups = append(t.cleanups, f) }

// must fails the case at once on a transport error or a status other than
// SYS_OK.
func (t *T) must(st hidl.RequestStatus, err error, format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if st != hidl.SysOK {
		t.Fatalf("%s = %v, want SYS_OK", what, st)
	}
}

// notify registers a fresh callback for the case (setNotify), replacing
// the previous one, and checks the deviceId is not 0.
func (t *T) notify() uint64 {
	if t.cbs != nil {
		t.cbs.Close()
	}
	cbs, err := t.hal.SetNotify(t.ctx)
	if err != nil {
		t.Fatalf("setNotify: %v", err)
	}
	t.cbs, t.listened = cbs, true
	if cbs.DeviceID == 0 {
		t.Fatalf("setNotify returned deviceId 0")
	}
	return cbs.DeviceID
}

// listen makes sure the case has a live callback registered (a hal/vts
// body registers its own, which ends the case's), before it starts an
// operation.
func (t *T) listen() {
	if t.cbs == nil || t.cbs.Err() != nil {
		t.notify()
	}
}

// next returns the next callback within d, or nil when none came.
func (t *T) next(d time.Duration) hidl.Callback {
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	cb, err := t.cbs.Next(ctx)
	switch {
	case err == nil:
		if len(t.received) < maxReceived {
			t.received = append(t.received, cb)
		} else {
			t.receivedOver++
		}
		return cb
	case errors.Is(err, context.DeadlineExceeded) && t.ctx.Err() == nil:
		return nil
	case t.ctx.Err() != nil:
		t.Fatalf("%v", context.Cause(t.ctx))
	}
	t.Fatalf("callback stream ended: %v", err)
	return nil
}

// verdict is a callback handler's decision.
type verdict int

const (
	more verdict = iota // not yet: read the next callback
	done                // this is what was awaited
)

// await reads callbacks, each within Timeout of the previous one (VTS's
// waitForCallback per step), handing each to handle until it returns done.
// handle may call Fatalf. It returns the callbacks read, the last being
// the awaited one.
func (t *T) await(what string, handle func(hidl.Callback) verdict) []hidl.Callback {
	var seen []hidl.Callback
	for {
		cb := t.next(Timeout)
		if cb == nil {
			t.Fatalf("no %s within %v", what, Timeout)
		}
		seen = append(seen, cb)
		if handle(cb) == done {
			return seen
		}
	}
}

// maxReceived bounds the callbacks a case keeps for its failure message:
// a HAL flooding onAcquired cannot make conform hold them all.
const maxReceived = 256

// isCanceled reports onError(ERROR_CANCELED).
func isCanceled(cb hidl.Callback) bool {
	e, ok := cb.(hidl.OnError)
	return ok && e.Error == hidl.ErrorCanceled
}

// outcome is the case's status and reason: its failures joined, or its
// skip reason.
func (t *T) outcome() (Status, string) {
	switch {
	case len(t.failures) > 0:
		reason := strings.Join(t.failures, "\n")
		if t.listened {
			reason += "\ncallbacks received: " + hidl.Describe(t.received)
			if t.receivedOver > 0 {
				reason += fmt.Sprintf(" (and %d later ones)", t.receivedOver)
			}
		}
		return Fail, reason
	case t.skip != "":
		return Skip, t.skip
	}
	return Pass, t.note
}
