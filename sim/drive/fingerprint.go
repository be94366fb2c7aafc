package drive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee/rpc"
)

// EnrollTimeoutSec is the timeoutSec every flow passes to enroll: the
// framework's Fingerprint21.ENROLL_TIMEOUT_SEC (AOSP frameworks/base
// biometrics).
const EnrollTimeoutSec = 60

// Fingerprint is one way into the fingerprint stack: the HAL's north API
// (HAL: what the framework or a compromised app does) or the fingerprint
// TA's CA commands (TA: what the HAL, or a compromised HAL, does). Events
// come back in the TA's form (fpproto.Event); through the HAL the error
// reason is unknown (HIDL drops it). A status other than SYS_OK is an
// error.
type Fingerprint interface {
	PreEnroll(ctx context.Context) (uint64, error)
	Enroll(ctx context.Context, hat []byte, gid uint32) error
	PostEnroll(ctx context.Context) error
	Authenticate(ctx context.Context, op uint64, gid uint32) error
	Cancel(ctx context.Context) error
	Enumerate(ctx context.Context) error
	SetActiveGroup(ctx context.Context, gid uint32, path string) error
	AuthenticatorID(ctx context.Context) (uint64, error)
	// Next returns the next event, or ok=false when none came within
	// wait.
	Next(ctx context.Context, wait time.Duration) (e fpproto.Event, ok bool, err error)
}

// ErrChallengeZero: preEnroll returned 0, which is never a challenge.
var ErrChallengeZero = errors.New("preEnroll returned challenge 0")

// HAL drives the fingerprint HAL process's north API (hal/halclient) and
// reads its callback stream.
type HAL struct {
	Client    *halclient.Client
	Callbacks *halclient.Callbacks
}

var _ Fingerprint = HAL{}

// checkStatus is err, or an error naming method and st when st is not
// ok (SYS_OK in either numbering).
func checkStatus[S interface {
	comparable
	fmt.Stringer
}](method string, st, ok S, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if st != ok {
		return fmt.Errorf("%s: %v", method, st)
	}
	return nil
}

func halStatus(method string, st hidl.RequestStatus, err error) error {
	return checkStatus("HAL "+method, st, hidl.SysOK, err)
}

// PreEnroll is preEnroll(); a challenge of 0 is ErrChallengeZero.
func (h HAL) PreEnroll(ctx context.Context) (uint64, error) {
	c, err := h.Client.PreEnroll(ctx)
	if err == nil && c == 0 {
		err = fmt.Errorf("HAL: %w", ErrChallengeZero)
	}
	return c, err
}

// Enroll is enroll(hat, gid, EnrollTimeoutSec).
func (h HAL) Enroll(ctx context.Context, hat []byte, gid uint32) error {
	st, err := h.Client.Enroll(ctx, hat, gid, EnrollTimeoutSec)
	return halStatus("enroll", st, err)
}

// PostEnroll is postEnroll().
func (h HAL) PostEnroll(ctx context.Context) error {
	st, err := h.Client.PostEnroll(ctx)
	return halStatus("postEnroll", st, err)
}

// Authenticate is authenticate(op, gid).
func (h HAL) Authenticate(ctx context.Context, op uint64, gid uint32) error {
	st, err := h.Client.Authenticate(ctx, op, gid)
	return halStatus("authenticate", st, err)
}

// Cancel is cancel().
func (h HAL) Cancel(ctx context.Context) error {
	st, err := h.Client.Cancel(ctx)
	return halStatus("cancel", st, err)
}

// Enumerate is enumerate().
func (h HAL) Enumerate(ctx context.Context) error {
	st, err := h.Client.Enumerate(ctx)
	return halStatus("enumerate", st, err)
}

// SetActiveGroup is setActiveGroup(gid, path).
func (h HAL) SetActiveGroup(ctx context.Context, gid uint32, path string) error {
	st, err := h.Client.SetActiveGroup(ctx, gid, path)
	return halStatus("setActiveGroup", st, err)
}

// AuthenticatorID is getAuthenticatorId().
func (h HAL) AuthenticatorID(ctx context.Context) (uint64, error) {
	return h.Client.GetAuthenticatorID(ctx)
}

// Next is the next callback, as the TA event it came from.
func (h HAL) Next(ctx context.Context, wait time.Duration) (fpproto.Event, bool, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case cb, ok := <-h.Callbacks.C():
		if !ok {
			return fpproto.Event{}, false, fmt.Errorf("HAL callback stream ended: %v", h.Callbacks.Err())
		}
		return FromCallback(cb), true, nil
	case <-t.C:
		return fpproto.Event{}, false, nil
	case <-ctx.Done():
		return fpproto.Event{}, false, ctx.Err()
	}
}

// FromCallback converts a HIDL callback into the TA event it came from
// (the numbers are AOSP's on both sides; HIDL carries no error reason).
func FromCallback(cb hidl.Callback) fpproto.Event {
	switch c := cb.(type) {
	case hidl.OnEnrollResult:
		return fpproto.Event{Type: fpproto.MsgTemplateEnrolling, FingerID: c.FingerID, GroupID: c.GroupID, Remaining: c.Remaining}
	case hidl.OnAcquired:
		return fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredInfo(c.AcquiredInfo), VendorCode: c.VendorCode}
	case hidl.OnAuthenticated:
		return fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: c.FingerID, GroupID: c.GroupID, HAT: c.Token}
	case hidl.OnError:
		return fpproto.Event{Type: fpproto.MsgError, Error: fpproto.Error(c.Error), VendorCode: c.VendorCode}
	case hidl.OnRemoved:
		return fpproto.Event{Type: fpproto.MsgTemplateRemoved, FingerID: c.FingerID, GroupID: c.GroupID, Remaining: c.Remaining}
	case hidl.OnEnumerate:
		return fpproto.Event{Type: fpproto.MsgTemplateEnumerating, FingerID: c.FingerID, GroupID: c.GroupID, Remaining: c.Remaining}
	}
	return fpproto.Event{Type: fpproto.MsgNone}
}

// TA drives the fingerprint TA directly, the way the HAL does: Cmd is the
// session for commands, Events the one pumping NEXT_EVENT.
type TA struct {
	Cmd, Events rpc.Invoker
}

var _ Fingerprint = TA{}

func taStatus(method string, st fpproto.RequestStatus, err error) error {
	return checkStatus(method, st, fpproto.SysOK, err)
}

// PreEnroll is PRE_ENROLL.
func (t TA) PreEnroll(ctx context.Context) (uint64, error) {
	return fpproto.PreEnroll{}.Execute(ctx, t.Cmd)
}

// Enroll is ENROLL(hat, gid, EnrollTimeoutSec).
func (t TA) Enroll(ctx context.Context, hat []byte, gid uint32) error {
	st, err := fpproto.Enroll{HAT: hat, GID: gid, TimeoutSec: EnrollTimeoutSec}.Execute(ctx, t.Cmd)
	return taStatus("ENROLL", st, err)
}

// PostEnroll is POST_ENROLL.
func (t TA) PostEnroll(ctx context.Context) error {
	st, err := fpproto.PostEnroll{}.Execute(ctx, t.Cmd)
	return taStatus("POST_ENROLL", st, err)
}

// Authenticate is AUTHENTICATE(op, gid).
func (t TA) Authenticate(ctx context.Context, op uint64, gid uint32) error {
	st, err := fpproto.Authenticate{OperationID: op, GID: gid}.Execute(ctx, t.Cmd)
	return taStatus("AUTHENTICATE", st, err)
}

// Cancel is CANCEL.
func (t TA) Cancel(ctx context.Context) error {
	st, err := fpproto.Cancel{}.Execute(ctx, t.Cmd)
	return taStatus("CANCEL", st, err)
}

// Enumerate is ENUMERATE.
func (t TA) Enumerate(ctx context.Context) error {
	st, err := fpproto.Enumerate{}.Execute(ctx, t.Cmd)
	return taStatus("ENUMERATE", st, err)
}

// SetActiveGroup is SET_ACTIVE_GROUP(gid, path).
func (t TA) SetActiveGroup(ctx context.Context, gid uint32, path string) error {
	st, err := fpproto.SetActiveGroup{GID: gid, Path: path}.Execute(ctx, t.Cmd)
	return taStatus("SET_ACTIVE_GROUP", st, err)
}

// AuthenticatorID is GET_AUTHENTICATOR_ID.
func (t TA) AuthenticatorID(ctx context.Context) (uint64, error) {
	return fpproto.GetAuthenticatorID{}.Execute(ctx, t.Cmd)
}

// Next is NEXT_EVENT on the event session.
func (t TA) Next(ctx context.Context, wait time.Duration) (fpproto.Event, bool, error) {
	e, _, err := fpproto.NextEvent{Wait: wait}.Execute(ctx, t.Events)
	if err != nil {
		return fpproto.Event{}, false, fmt.Errorf("NEXT_EVENT: %w", err)
	}
	return e, e.Type != fpproto.MsgNone, nil
}
