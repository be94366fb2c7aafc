package conform

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// Lockout policy of the HIDL framework (LockoutFrameworkImpl,
// AOSP frameworks/base biometrics), which fpemu's TA enforces per group and conform
// requires of the device.
const (
	// LockoutAttempts is MAX_FAILED_ATTEMPTS_LOCKOUT_TIMED: the 5th
	// consecutive rejection starts a timed lockout.
	LockoutAttempts = 5
	// LockoutDuration is FAIL_LOCKOUT_TIMEOUT_MS.
	LockoutDuration = 30 * time.Second
	// lockoutMargin keeps the expiry checks clear of the boundary: the
	// device starts its 30 s before conform sees ERROR_LOCKOUT, by the
	// callback's delivery time.
	lockoutMargin = 2 * time.Second
)

// lockOut enrolls fingerA in gid, authenticates it once (a match clears
// any failure count an earlier run left), then authenticates with an
// impostor on the sensor: exactly LockoutAttempts rejections
// (onAuthenticated with fingerId 0) must be followed by
// onError(ERROR_LOCKOUT), which ends the authentication. It returns when
// that error arrived.
func (t *T) lockOut(gid uint32) time.Time {
	t.notify()
	t.fresh(gid)
	t.enroll(gid, fingerA)
	t.authenticate(gid, randomID(), probeTouches(fingerA))

	rejections := 0
	check := authEvents("authentication with an impostor", func(e fpproto.Event) error {
		if e.FingerID != 0 {
			return fmt.Errorf("the impostor authenticated: %v", e)
		}
		if rejections++; rejections > LockoutAttempts {
			return fmt.Errorf("%d consecutive rejections and no ERROR_LOCKOUT (the %dth must lock out for %v)", rejections, LockoutAttempts, LockoutDuration)
		}
		return nil
	}, func(e fpproto.Event) error {
		if e.Error != fpproto.ErrorLockout {
			return fmt.Errorf("after %d rejection(s): %v, want ERROR_LOCKOUT after the %dth", rejections, e, LockoutAttempts)
		}
		if rejections != LockoutAttempts {
			return fmt.Errorf("%v after %d rejection(s), want it after the %dth", e, rejections, LockoutAttempts)
		}
		return nil
	})
	fp, sen := t.driver(probeTouches(impostor))
	defer t.resetSensor()
	op := randomID()
	_, err := drive.Authenticate(t.ctx, fp, sen, impostor, op, gid, drive.AuthOptions{
		Touches: LockoutAttempts + 1,
		Observe: t.paced("onError(ERROR_LOCKOUT)", check),
	})
	if !errors.Is(err, &drive.OpError{Code: fpproto.ErrorLockout}) {
		t.Fatalf("authenticate(%#x, %d) with an impostor: %v, want ERROR_LOCKOUT", op, gid, err)
	}
	return time.Now()
}

// lockedOut requires an authentication attempt during the lockout window
// to be refused while the genuine finger is on the sensor: authenticate()
// answers an error status, or SYS_OK then onError(ERROR_LOCKOUT) within
// 3 s — never onAuthenticated.
func (t *T) lockedOut(gid uint32, when string) {
	fd := t.feed(probeTouches(fingerA))
	defer t.stop(fd)
	op := randomID()
	st, err := t.hal.Authenticate(t.ctx, op, gid)
	if err != nil {
		t.Fatalf("authenticate(%#x, %d) %s: %v", op, gid, when, err)
	}
	if st != hidl.SysOK {
		return // refused at once
	}
	t.await("onError(ERROR_LOCKOUT) "+when, func(cb hidl.Callback) verdict {
		switch c := cb.(type) {
		case hidl.OnAcquired:
			return more
		case hidl.OnAuthenticated:
			t.Fatalf("authentication went ahead %s: %v", when, c)
		case hidl.OnError:
			if c.Error != hidl.ErrorLockout {
				t.Fatalf("authenticate %s: %v, want ERROR_LOCKOUT", when, c)
			}
			return done
		}
		t.Fatalf("authenticate %s: unexpected %v", when, cb)
		return more
	})
}

// lockoutTest: the 5th rejection locks out; an attempt right after is
// refused.
func lockoutTest(t *T) {
	t.lockOut(gidLockout)
	t.lockedOut(gidLockout, "right after ERROR_LOCKOUT")
}

// lockoutExpiryTest: the window lasts 30 s, then the owner gets in.
func lockoutExpiryTest(t *T) {
	at := t.lockOut(gidLockoutExpiry)
	end := t.waitStarts("LockoutExpiryTest: waiting out the 30 s lockout", at.Add(LockoutDuration+time.Second))
	defer end()
	t.sleepUntil(at.Add(LockoutDuration - lockoutMargin))
	t.lockedOut(gidLockoutExpiry, "28 s after ERROR_LOCKOUT")
	t.sleepUntil(at.Add(LockoutDuration + time.Second))
	end()
	t.authenticate(gidLockoutExpiry, randomID(), probeTouches(fingerA))
}

// WaitObserver is told of each long wait a case makes on purpose
// (LockoutExpiryTest waits out FAIL_LOCKOUT_TIMEOUT_MS, ~31 s, because
// the HIDL north API has no clock to advance): it is called when the wait
// starts, with what the case waits for and until when, and the function
// it returns is called once when the wait ends, also when the case fails
// or the run is cancelled during it. `fpemu conform` shows it as
// progress on stderr.
type WaitObserver func(what string, until time.Time) (end func())

type waitObserverKey struct{}

// WithWaitObserver returns a context carrying o: Run under it tells o of
// every deliberate wait. It is a context value, not a Config field, so
// that it reaches the cases through the context Run already hands them.
func WithWaitObserver(ctx context.Context, o WaitObserver) context.Context {
	return context.WithValue(ctx, waitObserverKey{}, o)
}

// waitStarts tells the run's WaitObserver, if any, that a wait until
// until starts, and returns the function that ends it (idempotent).
func (t *T) waitStarts(what string, until time.Time) (end func()) {
	o, _ := t.ctx.Value(waitObserverKey{}).(WaitObserver)
	if o == nil {
		return func() {}
	}
	var once sync.Once
	stop := o(what, until)
	return func() {
		once.Do(func() {
			if stop != nil {
				stop()
			}
		})
	}
}

// sleepUntil waits until deadline or the case's end.
func (t *T) sleepUntil(deadline time.Time) {
	tm := time.NewTimer(time.Until(deadline))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-t.ctx.Done():
		t.Fatalf("waiting: %v", t.ctx.Err())
	}
}
