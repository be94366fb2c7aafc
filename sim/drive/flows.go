package drive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// Bounds of the fingerprint flows.
const (
	// OpTimeout bounds one wait of a flow for the event it needs: a
	// wait that runs out ends the flow with ErrNoEvent.
	OpTimeout = 20 * time.Second
	// pollWait is the wait of one Fingerprint.Next.
	pollWait = 100 * time.Millisecond
	// MaxEnrollTouches bounds the touches one enrollment may take before
	// the flow gives up (DefaultEnrollSamples good samples are needed).
	MaxEnrollTouches = 3 * fpproto.DefaultEnrollSamples
	// DefaultAuthTouches is how many touches an authentication gets
	// before the flow gives up (the matcher's FRR is a few per cent at
	// most).
	DefaultAuthTouches = 3
)

// Sensor is the virtual sensor as the flows use it: present a touch of a
// synthetic finger, drop what is queued. sim/device.Sensor is one.
type Sensor interface {
	Touch(ctx context.Context, f *finger.Finger, p finger.Placement) error
	Reset(ctx context.Context) error
}

// OpError is a fingerprint operation (enroll, authenticate) that ended
// with an ERROR event: the way the fingerprint TA refuses
// (docs/protocol.md §9.4). errors.Is matches another *OpError with the
// same Code.
type OpError struct {
	Code   fpproto.Error
	Reason fpproto.Reason // ReasonNone when unknown (the HIDL north API drops it)
}

func (e *OpError) Error() string {
	if e.Reason == fpproto.ReasonNone {
		return e.Code.String()
	}
	return fmt.Sprintf("%v (%v)", e.Code, e.Reason)
}

// Unwrap is the fingerprint protocol's typed error for the code and
// reason (fpproto.ReasonError), so errors.Is sees e.g. ErrNotGroupOwner.
func (e *OpError) Unwrap() error { return fpproto.ReasonError(e.Code, e.Reason) }

// Is matches on Code only.
func (e *OpError) Is(target error) bool {
	t, ok := target.(*OpError)
	return ok && t.Code == e.Code
}

// EventError is the *OpError of an ERROR event (a lockout has no reason).
func EventError(e fpproto.Event) *OpError {
	oe := &OpError{Code: e.Error}
	if e.Error != fpproto.ErrorLockout {
		oe.Reason = e.Reason()
	}
	return oe
}

// Errors of the flows, for errors.Is.
var (
	// ErrNoMatch: an authentication ended without a match (AUTHENTICATED
	// with finger id 0 and no HAT for every touch, then cancelled).
	ErrNoMatch = errors.New("no match (AUTHENTICATED fid 0, no HAT)")
	// ErrUnexpected: an event the flow did not expect, or one for another
	// group or finger.
	ErrUnexpected = errors.New("unexpected fingerprint event")
	// ErrNoEvent: no event came within the flow's wait (OpTimeout) while
	// the caller's context was still live — the TA went silent, as
	// opposed to the caller's own deadline or cancellation, which the
	// error matches instead (context.DeadlineExceeded, context.Canceled).
	ErrNoEvent = errors.New("no fingerprint event")
)

// opTimeout is OpTimeout; tests shorten it.
var opTimeout = OpTimeout

// Observer sees every event a flow reads, before the flow acts on it; an
// error it returns ends the flow with that error. A tool that holds the
// stack to more than the flow needs (the demo refuses any event but the
// operation's own) says so here.
type Observer func(fpproto.Event) error

// AwaitEvent reads events until stop(e) holds or an ERROR event arrives,
// each within OpTimeout, and returns that event.
func AwaitEvent(ctx context.Context, fp Fingerprint, stop func(fpproto.Event) bool) (fpproto.Event, error) {
	for {
		e, err := nextEvent(ctx, fp)
		if err != nil || e.Type == fpproto.MsgError || stop(e) {
			return e, err
		}
	}
}

// nextEvent reads the next event within OpTimeout. When that wait runs
// out the error is ErrNoEvent, saying how long it waited, so that a
// report can tell a silent TA from the caller's own deadline.
func nextEvent(ctx context.Context, fp Fingerprint) (fpproto.Event, error) {
	wctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for {
		e, ok, err := fp.Next(wctx, pollWait)
		switch {
		case err == nil && ok:
			return e, nil
		case ctx.Err() != nil:
			return fpproto.Event{}, fmt.Errorf("waiting for a fingerprint event: %w", cmp.Or(err, ctx.Err()))
		case wctx.Err() != nil:
			return fpproto.Event{}, fmt.Errorf("%w within %v", ErrNoEvent, opTimeout)
		case err != nil:
			return fpproto.Event{}, fmt.Errorf("waiting for a fingerprint event: %w", err)
		}
	}
}

// observed reads the next event within OpTimeout and hands it to observe,
// if not nil.
func observed(ctx context.Context, fp Fingerprint, observe Observer) (fpproto.Event, error) {
	e, err := nextEvent(ctx, fp)
	if err == nil && observe != nil {
		err = observe(e)
	}
	return e, err
}

// CancelOp cancels the running operation and consumes its
// ERROR(CANCELED).
func CancelOp(ctx context.Context, fp Fingerprint) error {
	if err := fp.Cancel(ctx); err != nil {
		return err
	}
	e, err := AwaitEvent(ctx, fp, func(fpproto.Event) bool { return false })
	if err != nil {
		return err
	}
	if e.Error != fpproto.ErrorCanceled {
		return fmt.Errorf("cancel: got %v, want ERROR_CANCELED", e)
	}
	return nil
}

// Enrolled is what an enrollment showed.
type Enrolled struct {
	FingerID  uint32
	Remaining []uint32 // TEMPLATE_ENROLLING remaining counts, in order
	Acquired  int      // ACQUIRED events
	Touches   int      // samples presented
}

// Enroll runs enroll(hat, gid) and plays the user: one touch of f for
// every sample the TA asks for (after each TEMPLATE_ENROLLING with
// samples remaining, and again after an ACQUIRED that did not count),
// until TEMPLATE_ENROLLING(remaining = 0), whose finger id it returns.
// Touches are never queued ahead, so no sample is left on the sensor for
// the next operation. The challenge (preEnroll, the HAT) and postEnroll
// are the caller's. An ERROR event ends it with an *OpError; observe, if
// not nil, sees every event first.
func Enroll(ctx context.Context, fp Fingerprint, sen Sensor, f *finger.Finger, hat []byte, gid uint32, observe Observer) (Enrolled, error) {
	places, _ := finger.Touches(f, fpproto.DefaultEnrollSamples, 0)
	var res Enrolled
	touch := func() error {
		if res.Touches >= MaxEnrollTouches {
			return fmt.Errorf("enrollment still incomplete after %d touches", res.Touches)
		}
		p := finger.Nominal
		p.Noise = uint64(res.Touches)
		if res.Touches < len(places) {
			p = places[res.Touches]
		}
		res.Touches++
		return sen.Touch(ctx, f, p)
	}
	if err := touch(); err != nil {
		return res, err
	}
	if err := fp.Enroll(ctx, hat, gid); err != nil {
		_ = sen.Reset(ctx)
		return res, err
	}
	for {
		e, err := observed(ctx, fp, observe)
		if err != nil {
			// Where it stopped tells a lost touch (the TA waits for a
			// sample) from a lost event (the flow waits for one).
			return res, fmt.Errorf("enroll after %d touches, %d ACQUIRED, remaining %v: %w", res.Touches, res.Acquired, res.Remaining, err)
		}
		switch e.Type {
		case fpproto.MsgAcquired:
			res.Acquired++
			if e.Acquired != fpproto.AcquiredGood {
				if err := touch(); err != nil {
					return res, err
				}
			}
		case fpproto.MsgTemplateEnrolling:
			res.Remaining = append(res.Remaining, e.Remaining)
			if e.FingerID == 0 || e.GroupID != gid {
				return res, fmt.Errorf("%w: %v in the enrollment of group %d", ErrUnexpected, e, gid)
			}
			if e.Remaining == 0 {
				res.FingerID = e.FingerID
				return res, nil
			}
			if err := touch(); err != nil {
				return res, err
			}
		case fpproto.MsgError:
			_ = sen.Reset(ctx)
			return res, fmt.Errorf("enroll: %w", EventError(e))
		}
	}
}

// AuthOptions are how one authentication's user behaves.
type AuthOptions struct {
	// Place is the placement of touch n (0 the first); nil is a clean,
	// slightly shifted touch whose noise varies with n.
	Place func(n int) finger.Placement
	// Touches is how many touches (one per rejection) before the flow
	// cancels the operation and returns ErrNoMatch; 0 is
	// DefaultAuthTouches.
	Touches int
	// Observe, if not nil, sees every event first.
	Observe Observer
}

// Authenticated is what an authentication showed.
type Authenticated struct {
	// Event is the AUTHENTICATED match (finger id and HAT), or the event
	// that ended the operation otherwise.
	Event      fpproto.Event
	Rejections int // AUTHENTICATED with finger id 0 before the end
	Acquired   int // ACQUIRED events
}

// Shifted is touch n of a careful user, AuthOptions' default placement:
// clean, slightly off centre, its noise varying with n.
func Shifted(n int) finger.Placement {
	p := finger.Nominal
	p.DX, p.DY, p.Noise = 5, -3, uint64(n)+1
	return p
}

// Authenticate puts f on the sensor and runs authenticate(op, gid) until
// a match (AUTHENTICATED with a finger id, of group gid). A rejection
// (finger id 0) is answered with another touch; after opts.Touches of
// them the operation is cancelled and the flow returns ErrNoMatch. An
// ERROR event ends it with an *OpError. Either way the sensor is left
// empty.
func Authenticate(ctx context.Context, fp Fingerprint, sen Sensor, f *finger.Finger, op uint64, gid uint32, opts AuthOptions) (Authenticated, error) {
	place, tries := opts.Place, opts.Touches
	if place == nil {
		place = Shifted
	}
	if tries <= 0 {
		tries = DefaultAuthTouches
	}
	var res Authenticated
	if err := sen.Touch(ctx, f, place(0)); err != nil {
		return res, err
	}
	if err := fp.Authenticate(ctx, op, gid); err != nil {
		_ = sen.Reset(ctx)
		return res, err
	}
	for {
		e, err := observed(ctx, fp, opts.Observe)
		if err != nil {
			return res, err
		}
		switch e.Type {
		case fpproto.MsgAcquired:
			res.Acquired++
			continue
		case fpproto.MsgError:
			_ = sen.Reset(ctx)
			res.Event = e
			return res, EventError(e)
		case fpproto.MsgAuthenticated:
		default:
			continue
		}
		res.Event = e
		switch {
		case e.FingerID != 0 && e.GroupID != gid:
			return res, fmt.Errorf("%w: %v for group %d", ErrUnexpected, e, gid)
		case e.FingerID != 0:
			return res, nil
		}
		res.Rejections++
		if res.Rejections >= tries {
			_ = sen.Reset(ctx)
			if err := CancelOp(ctx, fp); err != nil {
				return res, err
			}
			return res, ErrNoMatch
		}
		if err := sen.Touch(ctx, f, place(res.Rejections)); err != nil {
			return res, err
		}
	}
}
