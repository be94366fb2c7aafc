package conform

import (
	"context"
	"slices"

	"fmt"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// EnrollTimeoutSec is the timeoutSec fpemu's own cases pass to enroll: the
// framework's Fingerprint21.ENROLL_TIMEOUT_SEC (AOSP frameworks/base biometrics), so
// that a HAL that wrongly starts an enrollment is caught enrolling, not
// timing out.
const EnrollTimeoutSec = 60

// useGroup makes gid the active group (setActiveGroup(gid, store path)).
func (t *T) useGroup(gid uint32) {
	st, err := t.hal.SetActiveGroup(t.ctx, gid, t.r.store)
	t.must(st, err, "setActiveGroup(%d, %q)", gid, t.r.store)
}

// fresh makes gid the active group and removes its templates, and does so
// again when the case ends, so that every case starts and leaves the group
// empty.
func (t *T) fresh(gid uint32) {
	t.useGroup(gid)
	t.removeAll(gid)
	t.Cleanup(func(ctx context.Context) error {
		return t.r.removeAll(ctx, gid)
	})
}

// removeAll is remove(gid, 0): SYS_OK, then onRemoved until remaining 0
// with no onError.
func (t *T) removeAll(gid uint32) {
	t.listen()
	st, err := t.hal.Remove(t.ctx, gid, 0)
	t.must(st, err, "remove(%d, 0)", gid)
	t.await("onRemoved(remaining 0)", func(cb hidl.Callback) verdict {
		switch c := cb.(type) {
		case hidl.OnRemoved:
			if c.GroupID != gid {
				t.Fatalf("%v, want groupId %d", c, gid)
			}
			if c.Remaining == 0 {
				return done
			}
		case hidl.OnError:
			t.Fatalf("remove(%d, 0): %v", gid, c)
		}
		return more
	})
}

// remove is remove(gid, fid) of one template.
func (t *T) remove(gid, fid uint32) {
	t.listen()
	st, err := t.hal.Remove(t.ctx, gid, fid)
	t.must(st, err, "remove(%d, %d)", gid, fid)
	t.await("onRemoved(remaining 0)", func(cb hidl.Callback) verdict {
		switch c := cb.(type) {
		case hidl.OnRemoved:
			if c.GroupID != gid || c.FingerID != fid {
				t.Fatalf("%v, want fingerId %d groupId %d", c, fid, gid)
			}
			if c.Remaining == 0 {
				return done
			}
		case hidl.OnError:
			t.Fatalf("remove(%d, %d): %v", gid, fid, c)
		}
		return more
	})
}

// enumerate lists the active group's templates (enumerate(); fingerId 0
// with remaining 0 means none), which must be group gid.
func (t *T) enumerate(gid uint32) []uint32 {
	t.listen()
	st, err := t.hal.Enumerate(t.ctx)
	t.must(st, err, "enumerate()")
	var fids []uint32
	t.await("onEnumerate(remaining 0)", func(cb hidl.Callback) verdict {
		switch c := cb.(type) {
		case hidl.OnEnumerate:
			if c.GroupID != gid {
				t.Fatalf("%v, want groupId %d", c, gid)
			}
			if c.FingerID != 0 {
				fids = append(fids, c.FingerID)
			}
			if c.Remaining == 0 {
				return done
			}
		case hidl.OnError:
			t.Fatalf("enumerate(): %v", c)
		}
		return more
	})
	slices.Sort(fids)
	return fids
}

// authenticatorID is getAuthenticatorId() of the active group.
func (t *T) authenticatorID() uint64 {
	id, err := t.hal.GetAuthenticatorID(t.ctx)
	if err != nil {
		t.Fatalf("getAuthenticatorId(): %v", err)
	}
	return id
}

// preEnroll is preEnroll(), which must not be 0; postEnroll runs when the
// case ends.
func (t *T) preEnroll() uint64 {
	c, err := t.hal.PreEnroll(t.ctx)
	if err != nil {
		t.Fatalf("preEnroll(): %v", err)
	}
	if c == 0 {
		t.Fatalf("preEnroll() returned 0")
	}
	t.Cleanup(func(ctx context.Context) error {
		_, err := t.hal.PostEnroll(ctx)
		return err
	})
	return c
}

// passwordHAT asks the device's Gatekeeper for a PASSWORD HAT for
// challenge.
func (t *T) passwordHAT(challenge uint64) tokens.Token {
	tok, err := t.r.cred.HAT(t.ctx, challenge)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tok
}

// enrolled is the outcome of a successful enrollment.
type enrolled struct {
	fid uint32
	hat []byte // the enroll HAT used
}

// enroll is the framework's enrollment of f into gid: preEnroll, a
// PASSWORD HAT for the challenge from Gatekeeper, enroll(hat, gid, 60)
// with f presented whenever the sensor waits, onEnrollResult counting
// down to remaining 0, postEnroll. Every deviation fails the case.
func (t *T) enroll(gid uint32, f *finger.Finger) enrolled {
	c := t.preEnroll()
	hat := t.passwordHAT(c).Marshal()
	fid := t.enrollWith(gid, f, hat)
	st, err := t.hal.PostEnroll(t.ctx)
	t.must(st, err, "postEnroll()")
	return enrolled{fid: fid, hat: hat}
}

// enrollWith runs enroll(hat, gid, 60) to completion with f on the
// sensor (drive.Enroll, a touch for every sample asked for) and returns
// the new finger id: SYS_OK, then onAcquired and onEnrollResult(fid,
// gid, remaining) with remaining strictly decreasing to 0, fid the same
// non-zero id throughout, each within Timeout of the one before, and no
// other callback.
func (t *T) enrollWith(gid uint32, f *finger.Finger, hat []byte) uint32 {
	var fid uint32
	last := ^uint32(0)
	check := func(e fpproto.Event) error {
		switch {
		case e.Type == fpproto.MsgAcquired:
			return nil
		case e.Type != fpproto.MsgTemplateEnrolling:
			return unexpected(fmt.Sprintf("enrollment of group %d", gid), e)
		case e.GroupID != gid:
			return fmt.Errorf("%v, want groupId %d", e, gid)
		case e.FingerID == 0:
			return fmt.Errorf("%v: fingerId 0", e)
		case fid != 0 && e.FingerID != fid:
			return fmt.Errorf("%v: fingerId changed from %d during one enrollment", e, fid)
		case e.Remaining >= last:
			return fmt.Errorf("%v: remaining did not decrease (was %d)", e, last)
		}
		fid, last = e.FingerID, e.Remaining
		return nil
	}
	fp, sen := t.driver(enrollTouches(f))
	defer t.resetSensor()
	res, err := drive.Enroll(t.ctx, fp, sen, f, hat, gid, t.paced("onEnrollResult(remaining 0)", check))
	if err != nil {
		t.Fatalf("enroll(hat, %d, %d): %v", gid, EnrollTimeoutSec, err)
	}
	return res.FingerID
}

// authEvents is the Observer check of an authentication's callbacks:
// onAcquired passes, onAuthenticated goes to authenticated and onError to
// failed, and any other callback is unexpected in what (the operation, as
// the error names it).
func authEvents(what string, authenticated, failed func(fpproto.Event) error) func(fpproto.Event) error {
	return func(e fpproto.Event) error {
		switch e.Type {
		case fpproto.MsgAcquired:
			return nil
		case fpproto.MsgAuthenticated:
			return authenticated(e)
		case fpproto.MsgError:
			return failed(e)
		}
		return unexpected(what, e)
	}
}

// unexpected is the error of a callback no check of what expects.
func unexpected(what string, e fpproto.Event) error {
	return fmt.Errorf("%s: unexpected %v", what, e)
}

// maxRejections is how often authenticate lets the genuine finger be
// rejected before it fails the case.
const maxRejections = 5

// authResult is the end of an authentication.
type authResult struct {
	match      fpproto.Event // AUTHENTICATED with FingerID != 0
	rejections int
}

// authenticate runs authenticate(op, gid) with the touches of next
// presented (drive.Authenticate: one, then one per rejection) until a
// match (onAuthenticated with fingerId != 0); rejections (fingerId 0,
// empty token, the authentication goes on) are counted. Every callback
// must come within Timeout of the one before; any onError fails the case.
func (t *T) authenticate(gid uint32, op uint64, next touch) authResult {
	what := fmt.Sprintf("authentication of group %d", gid)
	rejections := 0
	check := authEvents(what, func(e fpproto.Event) error {
		if e.GroupID != gid {
			return fmt.Errorf("%v, want groupId %d", e, gid)
		}
		if e.FingerID != 0 {
			return nil
		}
		if len(e.HAT) != 0 {
			t.Errorf("%v: a rejection carries no token (HIDL 2.1 default wrapper)", e)
		}
		if rejections++; rejections > maxRejections {
			return fmt.Errorf("genuine finger rejected %d times", rejections)
		}
		return nil
	}, func(e fpproto.Event) error {
		if e.Error == fpproto.ErrorLockout {
			return fmt.Errorf("%s: %v: the group is locked out (by an earlier run less than %v ago?)", what, e, LockoutDuration)
		}
		return unexpected(what, e)
	})
	fp, sen := t.driver(next)
	defer t.resetSensor()
	res, err := drive.Authenticate(t.ctx, fp, sen, nil /* scripted by next */, op, gid, drive.AuthOptions{
		Touches: maxRejections + 1,
		Observe: t.paced("onAuthenticated(fingerId != 0)", check),
	})
	if err != nil {
		t.Fatalf("authenticate(%#x, %d): %v", op, gid, err)
	}
	return authResult{match: res.Event, rejections: rejections}
}
