package vts

import (
	"context"
	"time"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
)

// ConnectTest: setNotify(cb) != 0.
func connectTest(ctx context.Context, c *halclient.Client, _ Env) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	cbs.Close()
	return nil
}

// ConnectNullTest: setNotify(NULL) != 0. A stream closed right after
// registration is the null callback.
func connectNullTest(ctx context.Context, c *halclient.Client, _ Env) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	cbs.Close()
	return nil
}

// PreEnrollTest: kIterations preEnroll() values, all non-zero and unique.
func preEnrollTest(ctx context.Context, c *halclient.Client, _ Env) error {
	seen := map[uint64]bool{}
	for i := range Iterations {
		v, err := c.PreEnroll(ctx)
		if err != nil {
			return err
		}
		if v == 0 {
			return failf("preEnroll #%d returned 0", i)
		}
		if seen[v] {
			return failf("preEnroll #%d repeated a challenge", i)
		}
		seen[v] = true
	}
	return nil
}

func isError(cb hidl.Callback) bool { _, ok := cb.(hidl.OnError); return ok }

func isCanceled(cb hidl.Callback) bool {
	e, ok := cb.(hidl.OnError)
	return ok && e.Error == hidl.ErrorCanceled
}

// enrollFails: enroll(token, kGroupId, kTimeout) is SYS_OK and an onError
// other than ERROR_NO_ERROR arrives.
func enrollFails(ctx context.Context, c *halclient.Client, env Env, token []byte) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	defer cbs.Close()
	if err := expectStatus(c.Enroll(ctx, token, GroupID, uint32(Timeout/time.Second)))("enroll"); err != nil {
		return err
	}
	cb, err := waitFor(ctx, cbs, env, "onError", false, isError)
	if err != nil {
		return err
	}
	if cb.(hidl.OnError).Error == hidl.ErrorNoError {
		return failf("onError(ERROR_NO_ERROR)")
	}
	return nil
}

// EnrollInvalidHatTest: an all-zero HAT.
func enrollInvalidHatTest(ctx context.Context, c *halclient.Client, env Env) error {
	return enrollFails(ctx, c, env, make([]byte, hidl.HATSize))
}

// uninitialized stands for VTS's uninitialized uint8_t[69]: stack garbage.
func uninitialized() []byte {
	b := make([]byte, hidl.HATSize)
	for i := range b {
		b[i] = byte(0xA5 ^ i*37)
	}
	return b
}

// EnrollNullTest: an uninitialized HAT.
func enrollNullTest(ctx context.Context, c *halclient.Client, env Env) error {
	return enrollFails(ctx, c, env, uninitialized())
}

// PostEnrollTest: postEnroll returns within kTimeout (and, with the base
// callback, raises no onError).
func postEnrollTest(ctx context.Context, c *halclient.Client, env Env) error {
	cbs, err := c.SetNotify(ctx)
	if err != nil {
		return err
	}
	defer cbs.Close()
	start := time.Now()
	if _, err := c.PostEnroll(ctx); err != nil {
		return err
	}
	if d := time.Since(start); d > env.Timeout {
		return failf("postEnroll took %v", d)
	}
	return drainNoError(cbs)
}

// drainNoError fails on any onError already received.
func drainNoError(cbs *halclient.Callbacks) error {
	for {
		select {
		case cb, ok := <-cbs.C():
			if !ok {
				return nil
			}
			if isError(cb) {
				return failf("unexpected %v", cb)
			}
		default:
			return nil
		}
	}
}

// GetAuthenticatorIdTest: getAuthenticatorId() != 0.
func getAuthenticatorIDTest(ctx context.Context, c *halclient.Client, _ Env) error {
	id, err := c.GetAuthenticatorID(ctx)
	if err != nil {
		return err
	}
	if id == 0 {
		return failf("getAuthenticatorId() returned 0")
	}
	return nil
}

// EnumerateTest: with no fingerprints, onEnumerate(fingerId 0, remaining 0).
func enumerateTest(ctx context.Context, c *halclient.Client, env Env) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	defer cbs.Close()
	if _, err := c.Enumerate(ctx); err != nil {
		return err
	}
	cb, err := waitFor(ctx, cbs, env, "onEnumerate(remaining 0)", true, func(cb hidl.Callback) bool {
		e, ok := cb.(hidl.OnEnumerate)
		return ok && e.Remaining == 0
	})
	if err != nil {
		return err
	}
	if e := cb.(hidl.OnEnumerate); e.FingerID != 0 {
		return failf("%v, want fingerId 0", e)
	}
	return nil
}

// removeTest: remove(kGroupId, fid) is SYS_OK; every onRemoved carries
// kGroupId and one has remaining 0.
func removeTest(ctx context.Context, c *halclient.Client, env Env, fid uint32) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	defer cbs.Close()
	if err := expectStatus(c.Remove(ctx, GroupID, fid))("remove(%d, %d)", GroupID, fid); err != nil {
		return err
	}
	var wrongGroup *hidl.OnRemoved
	_, err = waitFor(ctx, cbs, env, "onRemoved(remaining 0)", true, func(cb hidl.Callback) bool {
		r, ok := cb.(hidl.OnRemoved)
		if ok && r.GroupID != GroupID && wrongGroup == nil {
			wrongGroup = &r
		}
		return ok && r.Remaining == 0
	})
	if err != nil {
		return err
	}
	if wrongGroup != nil {
		return failf("%v, want groupId %d", *wrongGroup, GroupID)
	}
	return nil
}

// RemoveFingerprintTest: remove(kGroupId, 1).
func removeFingerprintTest(ctx context.Context, c *halclient.Client, env Env) error {
	return removeTest(ctx, c, env, 1)
}

// RemoveAllFingerprintsTest: remove(kGroupId, 0).
func removeAllFingerprintsTest(ctx context.Context, c *halclient.Client, env Env) error {
	return removeTest(ctx, c, env, 0)
}

// setActiveGroupThenReset: setActiveGroup(gid, path) is SYS_OK (or, with
// refuse, not SYS_OK), then setActiveGroup(kGroupId, kTmpDir) is SYS_OK.
func setActiveGroupThenReset(ctx context.Context, c *halclient.Client, env Env, gid uint32, path string, refuse bool) error {
	st, err := c.SetActiveGroup(ctx, gid, path)
	if err != nil {
		return err
	}
	if refuse && st == hidl.SysOK {
		return failf("setActiveGroup(%d, %q) = SYS_OK, want an error", gid, path)
	}
	if !refuse && st != hidl.SysOK {
		return failf("setActiveGroup(%d, %q) = %v, want SYS_OK", gid, path, st)
	}
	return expectStatus(c.SetActiveGroup(ctx, GroupID, env.StorePath))("reset setActiveGroup(%d)", GroupID)
}

// SetActiveGroupTest: setActiveGroup(2, kTmpDir).
func setActiveGroupTest(ctx context.Context, c *halclient.Client, env Env) error {
	return setActiveGroupThenReset(ctx, c, env, 2, env.StorePath, false)
}

// SetActiveGroupUnwritableTest: setActiveGroup(3, "/") fails.
func setActiveGroupUnwritableTest(ctx context.Context, c *halclient.Client, env Env) error {
	return setActiveGroupThenReset(ctx, c, env, 3, "/", true)
}

// SetActiveGroupNullTest: setActiveGroup(4, nullptr) fails.
func setActiveGroupNullTest(ctx context.Context, c *halclient.Client, env Env) error {
	return setActiveGroupThenReset(ctx, c, env, 4, "", true)
}

// cancelAfter: start (if any) is SYS_OK, cancel() is SYS_OK, and
// onError(ERROR_CANCELED) arrives (ErrorCallback filtering CANCELED).
func cancelAfter(ctx context.Context, c *halclient.Client, env Env, start func() (hidl.RequestStatus, error), what string) error {
	cbs, err := notify(ctx, c)
	if err != nil {
		return err
	}
	defer cbs.Close()
	if start != nil {
		if err := expectStatus(start())("%s", what); err != nil {
			return err
		}
	}
	if err := expectStatus(c.Cancel(ctx))("cancel"); err != nil {
		return err
	}
	_, err = waitFor(ctx, cbs, env, "onError(ERROR_CANCELED)", false, isCanceled)
	return err
}

// CancelTest: cancel() from idle.
func cancelTest(ctx context.Context, c *halclient.Client, env Env) error {
	return cancelAfter(ctx, c, env, nil, "")
}

// CancelEnrollTest: enroll(uninitialized, kGroupId, kTimeout), cancel().
func cancelEnrollTest(ctx context.Context, c *halclient.Client, env Env) error {
	if err := expectStatus(c.SetActiveGroup(ctx, GroupID, env.StorePath))("setActiveGroup"); err != nil {
		return err
	}
	return cancelAfter(ctx, c, env, func() (hidl.RequestStatus, error) {
		return c.Enroll(ctx, uninitialized(), GroupID, uint32(Timeout/time.Second))
	}, "enroll")
}

// CancelAuthTest: authenticate(0, kGroupId), cancel().
func cancelAuthTest(ctx context.Context, c *halclient.Client, env Env) error {
	return cancelAfter(ctx, c, env, func() (hidl.RequestStatus, error) { return c.Authenticate(ctx, 0, GroupID) }, "authenticate(0)")
}

// CancelRemoveTest: remove(kGroupId, 1), cancel().
func cancelRemoveTest(ctx context.Context, c *halclient.Client, env Env) error {
	return cancelAfter(ctx, c, env, func() (hidl.RequestStatus, error) { return c.Remove(ctx, GroupID, 1) }, "remove(1)")
}

// CancelRemoveAllTest: remove(kGroupId, 0), cancel().
func cancelRemoveAllTest(ctx context.Context, c *halclient.Client, env Env) error {
	return cancelAfter(ctx, c, env, func() (hidl.RequestStatus, error) { return c.Remove(ctx, GroupID, 0) }, "remove(0)")
}
