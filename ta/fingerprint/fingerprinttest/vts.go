// Package fingerprinttest holds the fingerprint VTS cases, ported from AOSP
// hardware/interfaces biometrics/fingerprint/2.1/vts/functional
// (VtsHalBiometricsFingerprintV2_1TargetTest; VtsHalBiometricsFingerprintV2_1TargetTest) down
// to the fingerprint TA's command channel (docs/protocol.md §9): each HIDL
// call becomes its TA command and each callback the NEXT_EVENT event of the
// same name. It runs against any pair of rpc.Invokers speaking that
// protocol — an in-process TA over Unix sockets, the TA process started by
// the launcher, or a vendor's TA.
//
// Like VTS, every case first makes group 99 active with a writable store
// directory; unlike VTS it also removes group 99's templates before and
// after each case, so run it only against a TA whose group 99 may be wiped.
//
// Where a strict TA must differ from the VTS letter the case says so:
// EnrollInvalidHatTest and CancelEnrollTest accept the ERROR the invalid
// HAT causes (VTS's own tokens are all-zero), and GetAuthenticatorIdTest
// follows the AIDL rule (0 with nothing enrolled) instead of VTS 2.1's
// "!= 0".
package fingerprinttest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// VTS constants (VtsHalBiometricsFingerprintV2_1TargetTest.cpp).
const (
	GroupID     = 99              // kGroupId
	Timeout     = 3 * time.Second // kTimeout: each callback must come within it
	Iterations  = 10              // kIterations
	timeoutSecs = 3
)

// Target is the fingerprint TA under test. It must already hold
// Keymaster's auth-token key (SET_AUTH_TOKEN_KEY done): without it every
// operation ends at once with ERROR_HW_UNAVAILABLE.
type Target struct {
	// Commands is a session for every command but NEXT_EVENT.
	Commands rpc.Invoker
	// Events is a session that only pumps NEXT_EVENT (a HAL's callback
	// thread), so that CANCEL on Commands can interrupt what it waits for.
	Events rpc.Invoker
	// StoreDir is a writable directory for SET_ACTIVE_GROUP (VTS
	// kStorageDir).
	StoreDir string
	// CaseTimeout bounds each case (default 20 s).
	CaseTimeout time.Duration
}

// Run runs every ported case as a subtest of t.
func Run(t *testing.T, target Target) {
	t.Helper()
	require.NotNil(t, target.Commands, "fingerprinttest: nil Commands")
	require.NotNil(t, target.Events, "fingerprinttest: nil Events")
	require.NotEmpty(t, target.StoreDir, "fingerprinttest: no StoreDir")
	testkit.RunCases(t, cases(), target.CaseTimeout, 20*time.Second, func(t *testing.T, ctx context.Context) (*vts, func()) {
		v := &vts{t: t, ctx: ctx, target: target}
		v.setUp()
		return v, v.tearDown
	})
}

// cases returns the ported cases in the order of the AOSP file.
func cases() []testkit.Case[*vts] {
	return []testkit.Case[*vts]{
		{Name: "PreEnrollTest", Run: preEnrollTest},
		{Name: "EnrollInvalidHatTest", Run: enrollInvalidHatTest},
		{Name: "EnrollNullTest", Run: enrollNullTest},
		{Name: "PostEnrollTest", Run: postEnrollTest},
		{Name: "GetAuthenticatorIdTest", Run: getAuthenticatorIDTest},
		{Name: "EnumerateTest", Run: enumerateTest},
		{Name: "RemoveFingerprintTest", Run: removeFingerprintTest},
		{Name: "RemoveAllFingerprintsTest", Run: removeAllFingerprintsTest},
		{Name: "SetActiveGroupTest", Run: setActiveGroupTest},
		{Name: "SetActiveGroupUnwritableTest", Run: setActiveGroupUnwritableTest},
		{Name: "SetActiveGroupNullTest", Run: setActiveGroupNullTest},
		{Name: "CancelTest", Run: cancelTest},
		{Name: "CancelEnrollTest", Run: cancelEnrollTest},
		{Name: "CancelAuthTest", Run: cancelAuthTest},
		{Name: "CancelRemoveTest", Run: cancelRemoveTest},
		{Name: "CancelRemoveAllTest", Run: cancelRemoveAllTest},
	}
}

type vts struct {
	t      *testing.T
	ctx    context.Context
	target Target
}

type statusRequest interface {
	Execute(context.Context, rpc.Invoker) (fpproto.RequestStatus, error)
}

// do runs req and returns its status.
func (v *vts) do(req statusRequest) fpproto.RequestStatus {
	v.t.Helper()
	st, err := req.Execute(v.ctx, v.target.Commands)
	require.NoError(v.t, err, "%T", req)
	return st
}

// event waits up to Timeout for the next event (the VTS promise wait).
func (v *vts) event() (fpproto.Event, bool) {
	v.t.Helper()
	e, _, err := fpproto.NextEvent{Wait: Timeout}.Execute(v.ctx, v.target.Events)
	require.NoError(v.t, err)
	return e, e.Type != fpproto.MsgNone
}

// waitFor reads events until match accepts one within Timeout each; the
// events before it must be allowed by skip (nil: none may come first).
func (v *vts) waitFor(what string, match, skip func(fpproto.Event) bool) fpproto.Event {
	v.t.Helper()
	for range 64 {
		e, ok := v.event()
		require.True(v.t, ok, "no %s within %v", what, Timeout)
		if match(e) {
			return e
		}
		require.True(v.t, skip != nil && skip(e), "unexpected %v while waiting for %s", e, what)
	}
	v.t.Fatalf("no %s", what)
	return fpproto.Event{}
}

// drain discards queued events.
func (v *vts) drain() {
	for range 256 {
		e, _, err := fpproto.NextEvent{}.Execute(v.ctx, v.target.Events)
		if err != nil || e.Type == fpproto.MsgNone {
			return
		}
	}
}

// setUp is VTS SetUp: setActiveGroup(kGroupId, kStorageDir) == SYS_OK,
// plus a clean group and event queue.
func (v *vts) setUp() {
	v.t.Helper()
	v.do(fpproto.Cancel{})
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.SetActiveGroup{GID: GroupID, Path: v.target.StoreDir}))
	v.do(fpproto.Remove{GID: GroupID, FID: 0})
	v.drain()
}

func (v *vts) tearDown() {
	v.do(fpproto.Cancel{})
	v.do(fpproto.Remove{GID: GroupID, FID: 0})
	v.drain()
}

func isError(e fpproto.Event) bool { return e.Type == fpproto.MsgError }

func isCanceled(e fpproto.Event) bool {
	return e.Type == fpproto.MsgError && e.Error == fpproto.ErrorCanceled
}

// preEnrollTest: kIterations challenges, all non-zero and unique.
func preEnrollTest(v *vts) {
	seen := map[uint64]bool{}
	for range Iterations {
		c, err := fpproto.PreEnroll{}.Execute(v.ctx, v.target.Commands)
		require.NoError(v.t, err)
		assert.NotZero(v.t, c)
		assert.False(v.t, seen[c], "challenge repeated")
		seen[c] = true
	}
}

// enrollInvalidHatTest: enroll(all-zero HAT) is SYS_OK and an error
// (≠ ERROR_NO_ERROR) follows within kTimeout.
func enrollInvalidHatTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Enroll{HAT: make([]byte, tokens.Size), GID: GroupID, TimeoutSec: timeoutSecs}))
	e := v.waitFor("onError", isError, nil)
	assert.NotEqual(v.t, fpproto.ErrorNoError, e.Error)
}

// enrollNullTest: the same with an uninitialized (here: empty) token.
func enrollNullTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Enroll{GID: GroupID, TimeoutSec: timeoutSecs}))
	e := v.waitFor("onError", isError, nil)
	assert.NotEqual(v.t, fpproto.ErrorNoError, e.Error)
}

// postEnrollTest: postEnroll returns (within kTimeout) SYS_OK.
func postEnrollTest(v *vts) {
	ctx, cancel := context.WithTimeout(v.ctx, Timeout)
	defer cancel()
	st, err := fpproto.PostEnroll{}.Execute(ctx, v.target.Commands)
	require.NoError(v.t, err)
	assert.Equal(v.t, fpproto.SysOK, st)
}

// getAuthenticatorIDTest: the call answers; with nothing enrolled the id is
// 0 (AIDL rule; VTS 2.1 asserts != 0 on devices with enrollments).
func getAuthenticatorIDTest(v *vts) {
	id, err := fpproto.GetAuthenticatorID{}.Execute(v.ctx, v.target.Commands)
	require.NoError(v.t, err)
	assert.Zero(v.t, id, "no template in the active group")
}

// enumerateTest: with no fingerprints, onEnumerate(fingerId 0, remaining 0).
func enumerateTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Enumerate{}))
	e := v.waitFor("onEnumerate", func(e fpproto.Event) bool { return e.Type == fpproto.MsgTemplateEnumerating }, nil)
	assert.Zero(v.t, e.FingerID)
	assert.Zero(v.t, e.Remaining)
}

func isRemoved(e fpproto.Event) bool { return e.Type == fpproto.MsgTemplateRemoved }

// removeFingerprintTest: remove(kGroupId, 1) is SYS_OK and onRemoved with
// groupId kGroupId and remaining 0 follows.
func removeFingerprintTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Remove{GID: GroupID, FID: 1}))
	e := v.waitFor("onRemoved", isRemoved, nil)
	assert.Equal(v.t, uint32(GroupID), e.GroupID)
	assert.Zero(v.t, e.Remaining)
}

// removeAllFingerprintsTest: remove(kGroupId, 0) likewise.
func removeAllFingerprintsTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Remove{GID: GroupID, FID: 0}))
	e := v.waitFor("onRemoved", isRemoved, nil)
	assert.Equal(v.t, uint32(GroupID), e.GroupID)
	assert.Zero(v.t, e.Remaining)
}

// setActiveGroupTest: another group, then back to kGroupId.
func setActiveGroupTest(v *vts) {
	assert.Equal(v.t, fpproto.SysOK, v.do(fpproto.SetActiveGroup{GID: 2, Path: v.target.StoreDir}))
	assert.Equal(v.t, fpproto.SysOK, v.do(fpproto.SetActiveGroup{GID: GroupID, Path: v.target.StoreDir}))
}

// setActiveGroupUnwritableTest: "/" is refused.
func setActiveGroupUnwritableTest(v *vts) {
	assert.NotEqual(v.t, fpproto.SysOK, v.do(fpproto.SetActiveGroup{GID: 3, Path: "/"}))
}

// setActiveGroupNullTest: a null (empty) path is refused.
func setActiveGroupNullTest(v *vts) {
	assert.NotEqual(v.t, fpproto.SysOK, v.do(fpproto.SetActiveGroup{GID: 4, Path: ""}))
}

// cancelTest: cancel() from idle is SYS_OK and ERROR_CANCELED follows.
func cancelTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Cancel{}))
	v.waitFor("ERROR_CANCELED", isCanceled, nil)
}

// cancelEnrollTest: enroll with an uninitialized token, cancel →
// ERROR_CANCELED (after the error the invalid token causes on a strict TA).
func cancelEnrollTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Enroll{HAT: make([]byte, tokens.Size), GID: GroupID, TimeoutSec: timeoutSecs}))
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Cancel{}))
	v.waitFor("ERROR_CANCELED", isCanceled, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError && e.Error == fpproto.ErrorUnableToProcess
	})
}

// cancelAuthTest: authenticate(0, kGroupId), cancel → ERROR_CANCELED.
func cancelAuthTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Authenticate{OperationID: 0, GID: GroupID}))
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Cancel{}))
	v.waitFor("ERROR_CANCELED", isCanceled, func(e fpproto.Event) bool { return e.Type == fpproto.MsgAcquired })
}

// cancelRemoveTest: remove(kGroupId, 1), cancel → ERROR_CANCELED.
func cancelRemoveTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Remove{GID: GroupID, FID: 1}))
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Cancel{}))
	v.waitFor("ERROR_CANCELED", isCanceled, isRemoved)
}

// cancelRemoveAllTest: remove(kGroupId, 0), cancel → ERROR_CANCELED.
func cancelRemoveAllTest(v *vts) {
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Remove{GID: GroupID, FID: 0}))
	require.Equal(v.t, fpproto.SysOK, v.do(fpproto.Cancel{}))
	v.waitFor("ERROR_CANCELED", isCanceled, isRemoved)
}
