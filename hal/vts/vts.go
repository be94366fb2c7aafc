// Package vts ports VtsHalBiometricsFingerprintV2_1TargetTest
// (hardware/interfaces/biometrics/fingerprint/2.1/vts/functional) to the
// fpemu HAL north API: each case drives a HAL through hal/halclient and
// returns an error describing the first assertion that failed, so that Go
// tests and the conformance suite (JUnit) can run the same cases against
// any HAL serving hal/halpb.
//
// As in VTS, SetUp (setActiveGroup(GroupID, StorePath) == SYS_OK) runs
// before each case, callbacks are awaited at most Timeout (VTS kTimeout,
// 3 s), and a case whose callback is the base FingerprintCallbackBase fails
// on any onError it sees.
package vts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
)

// VTS constants (VtsHalBiometricsFingerprintV2_1TargetTest.cpp).
const (
	Timeout    = 3 * time.Second // kTimeout
	GroupID    = 99              // kGroupId
	Iterations = 10              // kIterations
)

// Env is what the cases need besides the client.
type Env struct {
	// StorePath is a writable directory for setActiveGroup. VTS uses
	// /data/vendor_de/0/fpdata/ (first API level > 27).
	StorePath string
	// Timeout bounds every callback wait. Default Timeout.
	Timeout time.Duration
}

// Case is one VTS test.
type Case struct {
	Name string
	// Precondition, when not empty, says what device state the case
	// assumes beyond SetUp (VTS runs on a device in whatever state it is).
	Precondition string
	Run          func(ctx context.Context, c *halclient.Client, env Env) error
}

// ErrFailed is wrapped by every assertion failure.
var ErrFailed = errors.New("vts: assertion failed")

func failf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFailed, fmt.Sprintf(format, args...))
}

// Cases returns the VTS 2.1 cases in the order of the VTS source.
func Cases() []Case {
	return []Case{
		{Name: "ConnectTest", Run: connectTest},
		{Name: "ConnectNullTest", Run: connectNullTest},
		{Name: "PreEnrollTest", Run: preEnrollTest},
		{Name: "EnrollInvalidHatTest", Run: enrollInvalidHatTest},
		{Name: "EnrollNullTest", Run: enrollNullTest},
		{Name: "PostEnrollTest", Run: postEnrollTest},
		{Name: "GetAuthenticatorIdTest", Run: getAuthenticatorIDTest,
			Precondition: "a template is enrolled in the active group (a HAL that reports 0 with none enrolled, the AIDL rule fpemu's TA follows, fails it on an empty group)"},
		{Name: "EnumerateTest", Run: enumerateTest, Precondition: "no template is enrolled in the active group"},
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

// SetUp is the fixture's SetUp: setActiveGroup(kGroupId, kTmpDir) must be
// SYS_OK.
func SetUp(ctx context.Context, c *halclient.Client, env Env) error {
	return expectStatus(c.SetActiveGroup(ctx, GroupID, env.StorePath))("setActiveGroup(%d, %q)", GroupID, env.StorePath)
}

// RunCase runs SetUp then the case, bounded by ctx.
func RunCase(ctx context.Context, c *halclient.Client, env Env, tc Case) error {
	if env.Timeout <= 0 {
		env.Timeout = Timeout
	}
	if err := SetUp(ctx, c, env); err != nil {
		return fmt.Errorf("SetUp: %w", err)
	}
	return tc.Run(ctx, c, env)
}

// expectStatus checks a RequestStatus answer is SYS_OK.
func expectStatus(st hidl.RequestStatus, err error) func(format string, args ...any) error {
	return func(format string, args ...any) error {
		what := fmt.Sprintf(format, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if st != hidl.SysOK {
			return failf("%s = %v, want SYS_OK", what, st)
		}
		return nil
	}
}

// notify registers a callback and checks the deviceId (every VTS case with
// a callback asserts setNotify != 0).
func notify(ctx context.Context, c *halclient.Client) (*halclient.Callbacks, error) {
	cbs, err := c.SetNotify(ctx)
	if err != nil {
		return nil, fmt.Errorf("setNotify: %w", err)
	}
	if cbs.DeviceID == 0 {
		cbs.Close()
		return nil, failf("setNotify returned deviceId 0")
	}
	return cbs, nil
}

// waitFor waits up to env.Timeout for a callback matching match. With
// noErrors (FingerprintCallbackBase) any onError seen first fails the
// case.
func waitFor(ctx context.Context, cbs *halclient.Callbacks, env Env, what string, noErrors bool, match func(hidl.Callback) bool) (hidl.Callback, error) {
	wctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	cb, skipped, err := cbs.WaitFor(wctx, func(cb hidl.Callback) bool {
		if _, isErr := cb.(hidl.OnError); isErr && noErrors {
			return true
		}
		return match(cb)
	})
	for _, s := range skipped {
		if _, isErr := s.(hidl.OnError); isErr && noErrors {
			return nil, failf("unexpected %v while waiting for %s", s, what)
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, failf("timed out waiting for %s (%v); callbacks received meanwhile: %s", what, env.Timeout, hidl.Describe(skipped))
		}
		return nil, fmt.Errorf("waiting for %s: %w", what, err)
	}
	if e, isErr := cb.(hidl.OnError); isErr && noErrors && !match(cb) {
		return nil, failf("unexpected %v while waiting for %s", e, what)
	}
	return cb, nil
}
