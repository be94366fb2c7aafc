package fingerprint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee/store"
)

// GetAuthenticatorID is get_authenticator_id for the active group: 0 with
// no active group or no template (docs/protocol.md §9.7).
func (t *TA) GetAuthenticatorID(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	gid, ok := t.activeGID, t.activeSet
	t.mu.Unlock()
	if !ok {
		return 0, nil
	}
	return t.AuthenticatorID(ctx, gid)
}

// AuthenticatorID returns gid's authenticator id (0 with no template).
func (t *TA) AuthenticatorID(ctx context.Context, gid uint32) (uint64, error) {
	var id uint64
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		var err error
		id, err = loadAuthenticatorID(tx, gid)
		return err
	})
	return id, err
}

// Fingers returns gid's enrolled finger ids, ascending.
func (t *TA) Fingers(ctx context.Context, gid uint32) ([]uint32, error) {
	var fids []uint32
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		var err error
		fids, err = listFingers(tx, gid)
		return err
	})
	return fids, err
}

// Enumerate is enumerate(): one TEMPLATE_ENUMERATING(fid, gid, remaining)
// per template of the active group, remaining counting down to 0, or one
// (0, gid, 0) when it has none (VTS EnumerateTest).
func (t *TA) Enumerate(ctx context.Context) fpproto.RequestStatus {
	op, _, st := t.begin(opEnumerate)
	if st != fpproto.SysOK {
		return st
	}
	defer t.finish(op, nil)
	t.mu.Lock()
	gid := t.activeGID
	t.mu.Unlock()
	fids, err := t.Fingers(ctx, gid)
	if err != nil {
		t.Log.Error("enumerate", zap.Error(err))
		t.push(fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal)))
		return fpproto.SysOK
	}
	if len(fids) == 0 {
		t.push(fpproto.FingerEvent(fpproto.MsgTemplateEnumerating, 0, gid, 0))
		return fpproto.SysOK
	}
	for i, fid := range fids {
		t.push(fpproto.FingerEvent(fpproto.MsgTemplateEnumerating, fid, gid, uint32(len(fids)-1-i)))
	}
	return fpproto.SysOK
}

// Remove is remove(gid, fid): fid 0 removes all of gid's templates. One
// store transaction per request; when the group's last template goes, its
// authenticator id becomes 0 (docs/protocol.md §9.7, §9.8). Events: one
// TEMPLATE_REMOVED per template with remaining counting down to 0 (HIDL
// onRemoved: "for single fingerprint removal, this should be 0"); a finger
// id that is not enrolled is reported removed all the same (idempotent).
func (t *TA) Remove(ctx context.Context, gid, fid uint32) fpproto.RequestStatus {
	op, _, st := t.begin(opRemove)
	if st != fpproto.SysOK {
		return st
	}
	defer t.finish(op, nil)
	var removed []uint32
	err := t.Store.Tx(ctx, func(tx *store.Tx) error {
		fids, err := listFingers(tx, gid)
		if err != nil {
			return err
		}
		switch {
		case fid == 0:
			removed = fids
		case slices.Contains(fids, fid):
			removed = []uint32{fid}
		default:
			removed = nil
		}
		if len(removed) == 0 {
			return errNoWrite
		}
		if err := deleteTemplates(tx, gid, removed); err != nil {
			return err
		}
		if len(removed) == len(fids) {
			return putAuthenticatorID(tx, gid, 0)
		}
		return nil
	})
	if err != nil && err != errNoWrite {
		t.Log.Error("remove", zap.Uint32("gid", gid), zap.Error(err))
		t.push(fpproto.ErrorEvent(fpproto.ErrorUnableToRemove, 0, uint32(fpproto.ReasonInternal)))
		return fpproto.SysOK
	}
	switch {
	case fid != 0:
		t.push(fpproto.FingerEvent(fpproto.MsgTemplateRemoved, fid, gid, 0))
	case len(removed) == 0:
		t.push(fpproto.FingerEvent(fpproto.MsgTemplateRemoved, 0, gid, 0))
	default:
		for i, f := range removed {
			t.push(fpproto.FingerEvent(fpproto.MsgTemplateRemoved, f, gid, uint32(len(removed)-1-i)))
		}
	}
	t.Log.Info("removed", zap.Uint32("gid", gid), zap.Uint32("fid", fid), zap.Int("templates", len(removed)))
	if len(removed) > 0 {
		t.pushFingerList(ctx, gid)
	}
	return fpproto.SysOK
}

// ErrStorePath is wrapped by ValidateStorePath.
var ErrStorePath = fmt.Errorf("fingerprint: invalid store path")

// ValidateStorePath applies set_active_group's path rules: non-empty,
// shorter than PATH_MAX, no NUL, absolute, an existing directory that
// access(2) says is writable (the HIDL 2.1 default wrapper's
// "0 < len < PATH_MAX" and access(W_OK)), and not "/" (VTS
// SetActiveGroupUnwritableTest; a TA run as root passes access on it).
func ValidateStorePath(path []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrStorePath, why) }
	switch {
	case len(path) == 0:
		return bad("empty")
	case len(path) >= fpproto.MaxPathLen:
		return bad("not shorter than PATH_MAX")
	case bytes.IndexByte(path, 0) >= 0:
		return bad("contains NUL")
	}
	p := string(path)
	if !filepath.IsAbs(p) {
		return bad("not absolute")
	}
	if filepath.Clean(p) == "/" {
		return bad("the file-system root")
	}
	fi, err := os.Stat(p)
	if err != nil {
		return bad("does not exist")
	}
	if !fi.IsDir() {
		return bad("not a directory")
	}
	if err := unix.Access(p, unix.W_OK); err != nil {
		return bad("not writable")
	}
	return nil
}

// SetActiveGroup is set_active_group(gid, path): SYS_EINVAL for a path
// that fails ValidateStorePath (the active group is then unchanged),
// SYS_EBUSY while an operation runs. The first success starts the TA for
// the payment hook; every success reports gid's finger list.
func (t *TA) SetActiveGroup(ctx context.Context, gid uint32, path []byte) fpproto.RequestStatus {
	if err := ValidateStorePath(path); err != nil {
		t.Log.Info("set_active_group refused", zap.Uint32("gid", gid), zap.Error(err))
		return fpproto.SysEINVAL
	}
	t.mu.Lock()
	if t.op != nil {
		t.mu.Unlock()
		return fpproto.SysEBUSY
	}
	t.activeGID, t.activeSet = gid, true
	started := t.started
	t.mu.Unlock()
	t.Log.Info("active group set", zap.Uint32("gid", gid))
	if !started {
		t.start(ctx)
	} else {
		t.pushFingerList(ctx, gid)
	}
	return fpproto.SysOK
}
