package fingerprint

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor"
	"github.com/fpemu/fpemu/tee/store"
)

// errNoSpace aborts the enrollment transaction of a full group.
var errNoSpace = errors.New("fingerprint: group full")

// Enroll is enroll(hat, gid, timeout_sec). It answers SYS_EBUSY while
// another operation runs and SYS_OK otherwise; everything else is events
// (docs/protocol.md §9.5). A refused HAT, a HAT of another user than the
// one the group's templates are bound to (ReasonHATUser: a group is bound
// to one SID while it has templates) or a full group end the operation at
// once with one ERROR event and nothing stored.
func (t *TA) Enroll(hat []byte, gid, timeoutSec uint32) fpproto.RequestStatus {
	op, ctx, st := t.begin(opEnroll)
	if st != fpproto.SysOK {
		return st
	}
	tok, err := t.checkPasswordHAT(hat, true)
	if err != nil {
		var he *fpproto.HATError
		if !errors.As(err, &he) {
			he = &fpproto.HATError{Code: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonInternal, Err: err}
		}
		t.Log.Info("enroll: HAT refused", zap.Uint32("gid", gid), zap.Stringer("reason", he.Reason))
		ev := hatEvent(he)
		t.finish(op, &ev)
		return fpproto.SysOK
	}
	sid := tok.UserID
	var n int
	var owner uint64
	var bound bool
	err = t.Store.View(ctx, func(tx *store.Tx) error {
		fids, err := listFingers(tx, gid)
		n = len(fids)
		if err != nil {
			return err
		}
		owner, bound, err = groupSID(tx, gid)
		return err
	})
	switch {
	case err != nil:
		t.Log.Error("enroll: group state", zap.Error(err))
		ev := fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal))
		t.finish(op, &ev)
		return fpproto.SysOK
	case bound && owner != sid:
		he := notOwner()
		t.Log.Info("enroll: HAT refused", zap.Uint32("gid", gid), zap.Stringer("reason", he.Reason))
		ev := hatEvent(he)
		t.finish(op, &ev)
		return fpproto.SysOK
	case n >= fpproto.MaxTemplatesPerGroup:
		t.Log.Info("enroll: group full", zap.Uint32("gid", gid), zap.Int("templates", n))
		ev := fpproto.ErrorEvent(fpproto.ErrorNoSpace, 0, 0)
		t.finish(op, &ev)
		return fpproto.SysOK
	}
	timeout := time.Duration(timeoutSec) * time.Second
	if timeoutSec == 0 {
		timeout = fpproto.DefaultEnrollTimeout
	}
	t.Log.Info("enroll started", zap.Uint32("gid", gid), zap.Duration("timeout", timeout))
	t.run(op, ctx, func(ctx context.Context) *fpproto.Event { return t.enroll(ctx, gid, sid, timeout) })
	return fpproto.SysOK
}

// usable reports whether a captured sample has enough features to use; a
// sample below matcher.MinTemplateMinutiae is ACQUIRED_INSUFFICIENT.
func usable(s sensor.Item) bool { return len(s.Sample.Minutiae) >= matcher.MinTemplateMinutiae }

// capture reads the sensor once and turns what it got into events: nil
// sample with a non-nil end event when the operation must end, nil/nil
// when the capture produced only an acquisition message.
func (t *TA) capture(ctx, opCtx context.Context) (*matcher.Sample, *fpproto.Event) {
	it, err := t.sensor.Capture(ctx)
	if err != nil {
		if opCtx.Err() != nil {
			return nil, nil // CANCEL: it queues ERROR_CANCELED
		}
		ev := fpproto.ErrorEvent(fpproto.ErrorTimeout, 0, 0) // the enrollment deadline
		return nil, &ev
	}
	switch it.Kind {
	case sensor.KindAcquired:
		t.push(fpproto.AcquiredEvent(fpproto.AcquiredInfo(it.Code), it.Vendor))
		return nil, nil
	case sensor.KindNoFinger:
		ev := fpproto.ErrorEvent(fpproto.ErrorTimeout, 0, uint32(fpproto.ReasonSensor))
		return nil, &ev
	case sensor.KindFault:
		ev := fpproto.ErrorEvent(fpproto.Error(it.Code), it.Vendor, uint32(fpproto.ReasonSensor))
		return nil, &ev
	case sensor.KindSample:
		if !usable(it) {
			t.push(fpproto.AcquiredEvent(fpproto.AcquiredInsufficient, 0))
			return nil, nil
		}
		t.push(fpproto.AcquiredEvent(fpproto.AcquiredGood, 0))
		return &it.Sample, nil
	}
	ev := fpproto.ErrorEvent(fpproto.ErrorHWUnavailable, 0, uint32(fpproto.ReasonSensor))
	return nil, &ev
}

// enroll is the body of an enrollment: capture EnrollSamples good samples
// (progress counts down), merge them, commit template, SID binding and a
// new authenticator id in one transaction, report the finger list.
func (t *TA) enroll(opCtx context.Context, gid uint32, sid uint64, timeout time.Duration) *fpproto.Event {
	ctx, cancel := context.WithTimeout(opCtx, timeout)
	defer cancel()
	fid, err := t.newFingerID(opCtx, gid)
	if err != nil {
		t.Log.Error("enroll: finger id", zap.Error(err))
		ev := fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal))
		return &ev
	}
	samples := make([]matcher.Sample, 0, t.enrollSamples)
	for len(samples) < t.enrollSamples {
		s, end := t.capture(ctx, opCtx)
		if end != nil || (s == nil && opCtx.Err() != nil) {
			return end
		}
		if s == nil {
			continue
		}
		samples = append(samples, *s)
		if remaining := t.enrollSamples - len(samples); remaining > 0 {
			t.push(fpproto.FingerEvent(fpproto.MsgTemplateEnrolling, fid, gid, uint32(remaining)))
		}
	}
	tmpl, err := t.matcher.Enroll(samples)
	var b []byte
	if err == nil {
		b, err = tmpl.MarshalBinary()
	}
	if err != nil {
		// The matcher's error counts minutiae: only the outcome is
		// logged (the REE reads the TA's log).
		t.Log.Info("enroll: samples not merged", zap.Uint32("gid", gid))
		ev := fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonEnrollMerge))
		return &ev
	}
	if opCtx.Err() != nil {
		return nil // cancelled before the commit: nothing stored
	}
	rec := templateRecord{SID: sid, Matcher: t.matcher.Name(), Template: b}
	var authID uint64
	err = t.Store.Tx(context.Background(), func(tx *store.Tx) error {
		fids, err := listFingers(tx, gid)
		if err != nil {
			return err
		}
		if len(fids) >= fpproto.MaxTemplatesPerGroup {
			return errNoSpace
		}
		// The binding checked at ENROLL, again in the commit's
		// transaction: one SID per group whatever ran in between.
		if owner, bound, err := groupSID(tx, gid); err != nil {
			return err
		} else if bound && owner != sid {
			return notOwner()
		}
		if slices.Contains(fids, fid) {
			return fmt.Errorf("%w: finger id taken", ErrCorrupt)
		}
		if err := putTemplate(tx, gid, fid, rec); err != nil {
			return err
		}
		old, err := loadAuthenticatorID(tx, gid)
		if err != nil {
			return err
		}
		// A new random non-zero id on every enrollment (HIDL: "must change
		// whenever a new fingerprint is enrolled"; AIDL: random).
		for authID == 0 || authID == old {
			if authID, err = t.RandomNonZero(); err != nil {
				return err
			}
		}
		return putAuthenticatorID(tx, gid, authID)
	})
	var he *fpproto.HATError
	switch {
	case errors.Is(err, errNoSpace):
		ev := fpproto.ErrorEvent(fpproto.ErrorNoSpace, 0, 0)
		return &ev
	case errors.As(err, &he):
		t.Log.Info("enroll: HAT refused", zap.Uint32("gid", gid), zap.Stringer("reason", he.Reason))
		ev := hatEvent(he)
		return &ev
	case err != nil:
		t.Log.Error("enroll: commit", zap.Uint32("gid", gid), zap.Error(err))
		ev := fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal))
		return &ev
	}
	t.Log.Info("enrolled", zap.Uint32("gid", gid), zap.Uint32("fid", fid), zap.Int("template_bytes", len(b)))
	t.pushFingerList(context.Background(), gid)
	ev := fpproto.FingerEvent(fpproto.MsgTemplateEnrolling, fid, gid, 0)
	return &ev
}

// newFingerID draws a random finger id in 1..2³¹−1 (the framework keeps
// finger ids in a Java int) not used in gid.
func (t *TA) newFingerID(ctx context.Context, gid uint32) (uint32, error) {
	var fids []uint32
	if err := t.Store.View(ctx, func(tx *store.Tx) error {
		var err error
		fids, err = listFingers(tx, gid)
		return err
	}); err != nil {
		return 0, err
	}
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("fingerprint: random: %w", err)
		}
		fid := binary.BigEndian.Uint32(b[:]) & 0x7FFFFFFF
		if fid != 0 && !slices.Contains(fids, fid) {
			return fid, nil
		}
	}
}
