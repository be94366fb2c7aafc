package attack

import (
	"context"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// fpDriver drives fingerprint operations either through the honest HAL's
// north API (what a compromised app or framework can do) or directly on
// the fingerprint TA (what a compromised HAL can do). Events come back in
// the TA's form; through the HAL the error reason is unknown (HIDL drops
// it).
type fpDriver interface {
	preEnroll(ctx context.Context) (uint64, error)
	enroll(ctx context.Context, hat []byte, gid uint32) error
	postEnroll(ctx context.Context) error
	authenticate(ctx context.Context, op uint64, gid uint32) error
	cancel(ctx context.Context) error
	enumerate(ctx context.Context) error
	setActiveGroup(ctx context.Context, gid uint32, path string) error
	authenticatorID(ctx context.Context) (uint64, error)
	// next returns the next event, or ok=false when none came within wait.
	next(ctx context.Context, wait time.Duration) (e fpproto.Event, ok bool, err error)
}

// halDriver is the compromised app's view: the HAL process's north API
// (hal/halclient) with its callback stream.
type halDriver struct {
	c  *halclient.Client
	cb *halclient.Callbacks
}

// halDriver connects to the device's HAL and registers a callback.
func (d *device) halDriver(ctx context.Context) (*halDriver, error) {
	if d.sim.HAL() == nil {
		return nil, fmt.Errorf("no HAL running")
	}
	c, err := halclient.Dial(ctx, hal.SocketPath(d.r.dir))
	if err != nil {
		return nil, err
	}
	cb, err := c.SetNotify(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	d.onStop(func() { cb.Close(); _ = c.Close() })
	return &halDriver{c: c, cb: cb}, nil
}

func halStatus(method string, st hidl.RequestStatus, err error) error {
	if err != nil {
		return fmt.Errorf("HAL %s: %w", method, err)
	}
	if st != hidl.SysOK {
		return fmt.Errorf("HAL %s: %v", method, st)
	}
	return nil
}

func (h *halDriver) preEnroll(ctx context.Context) (uint64, error) {
	c, err := h.c.PreEnroll(ctx)
	if err == nil && c == 0 {
		err = fmt.Errorf("HAL preEnroll: challenge 0")
	}
	return c, err
}

func (h *halDriver) enroll(ctx context.Context, hat []byte, gid uint32) error {
	st, err := h.c.Enroll(ctx, hat, gid, 60)
	return halStatus("enroll", st, err)
}

func (h *halDriver) postEnroll(ctx context.Context) error {
	st, err := h.c.PostEnroll(ctx)
	return halStatus("postEnroll", st, err)
}

func (h *halDriver) authenticate(ctx context.Context, op uint64, gid uint32) error {
	st, err := h.c.Authenticate(ctx, op, gid)
	return halStatus("authenticate", st, err)
}

func (h *halDriver) cancel(ctx context.Context) error {
	st, err := h.c.Cancel(ctx)
	return halStatus("cancel", st, err)
}

func (h *halDriver) enumerate(ctx context.Context) error {
	st, err := h.c.Enumerate(ctx)
	return halStatus("enumerate", st, err)
}

func (h *halDriver) setActiveGroup(ctx context.Context, gid uint32, path string) error {
	st, err := h.c.SetActiveGroup(ctx, gid, path)
	return halStatus("setActiveGroup", st, err)
}

func (h *halDriver) authenticatorID(ctx context.Context) (uint64, error) {
	return h.c.GetAuthenticatorID(ctx)
}

func (h *halDriver) next(ctx context.Context, wait time.Duration) (fpproto.Event, bool, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case cb, ok := <-h.cb.C():
		if !ok {
			return fpproto.Event{}, false, fmt.Errorf("HAL callback stream ended: %v", h.cb.Err())
		}
		return fromCallback(cb), true, nil
	case <-t.C:
		return fpproto.Event{}, false, nil
	case <-ctx.Done():
		return fpproto.Event{}, false, ctx.Err()
	}
}

// fromCallback converts a HIDL callback into the TA event it came from
// (the numbers are AOSP's on both sides).
func fromCallback(cb hidl.Callback) fpproto.Event {
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

// taDriver is the compromised HAL's view: CA sessions straight on the
// fingerprint TA, one for commands and one pumping NEXT_EVENT.
type taDriver struct {
	cmd, ev rpc.Invoker
}

// taDriver stops the honest HAL (the attacker takes its place) and opens
// the two sessions a HAL uses.
func (d *device) taDriver(ctx context.Context) (*taDriver, error) {
	if err := d.takeOverHAL(); err != nil {
		return nil, fmt.Errorf("stop the honest HAL: %w", err)
	}
	cmd, err := d.session(ctx, tee.RoleFingerprint)
	if err != nil {
		return nil, err
	}
	ev, err := d.session(ctx, tee.RoleFingerprint)
	if err != nil {
		return nil, err
	}
	return &taDriver{cmd: cmd, ev: ev}, nil
}

func taStatus(method string, st fpproto.RequestStatus, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if st != fpproto.SysOK {
		return fmt.Errorf("%s: %v", method, st)
	}
	return nil
}

func (t *taDriver) preEnroll(ctx context.Context) (uint64, error) {
	return fpproto.PreEnroll{}.Execute(ctx, t.cmd)
}

func (t *taDriver) enroll(ctx context.Context, hat []byte, gid uint32) error {
	st, err := fpproto.Enroll{HAT: hat, GID: gid, TimeoutSec: 60}.Execute(ctx, t.cmd)
	return taStatus("ENROLL", st, err)
}

func (t *taDriver) postEnroll(ctx context.Context) error {
	st, err := fpproto.PostEnroll{}.Execute(ctx, t.cmd)
	return taStatus("POST_ENROLL", st, err)
}

func (t *taDriver) authenticate(ctx context.Context, op uint64, gid uint32) error {
	st, err := fpproto.Authenticate{OperationID: op, GID: gid}.Execute(ctx, t.cmd)
	return taStatus("AUTHENTICATE", st, err)
}

func (t *taDriver) cancel(ctx context.Context) error {
	st, err := fpproto.Cancel{}.Execute(ctx, t.cmd)
	return taStatus("CANCEL", st, err)
}

func (t *taDriver) enumerate(ctx context.Context) error {
	st, err := fpproto.Enumerate{}.Execute(ctx, t.cmd)
	return taStatus("ENUMERATE", st, err)
}

func (t *taDriver) setActiveGroup(ctx context.Context, gid uint32, path string) error {
	st, err := fpproto.SetActiveGroup{GID: gid, Path: path}.Execute(ctx, t.cmd)
	return taStatus("SET_ACTIVE_GROUP", st, err)
}

func (t *taDriver) authenticatorID(ctx context.Context) (uint64, error) {
	return fpproto.GetAuthenticatorID{}.Execute(ctx, t.cmd)
}

func (t *taDriver) next(ctx context.Context, wait time.Duration) (fpproto.Event, bool, error) {
	e, _, err := fpproto.NextEvent{Wait: wait}.Execute(ctx, t.ev)
	if err != nil {
		return fpproto.Event{}, false, fmt.Errorf("NEXT_EVENT: %w", err)
	}
	return e, e.Type != fpproto.MsgNone, nil
}
