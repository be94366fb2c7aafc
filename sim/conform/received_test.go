package conform

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/hal/hidl"
)

// TestFailureListsCallbacksReceived: a failed case's reason ends with the
// callbacks its stream delivered, in order and compact (a long run folded
// to its first and last five); a case that never listened says nothing of
// callbacks, and a pass or a skip carries no such line.
func TestFailureListsCallbacksReceived(t *testing.T) {
	acq := hidl.OnAcquired{AcquiredInfo: hidl.AcquiredGood}
	errCb := hidl.OnError{Error: hidl.ErrorUnableToProcess, VendorCode: 3}
	many := make([]hidl.Callback, 20)
	for i := range many {
		many[i] = hidl.OnEnrollResult{FingerID: 1, GroupID: 99, Remaining: uint32(19 - i)}
	}
	tests := []struct {
		name string
		t    T
		want Status
		line string // the reason's last line; "" for none
	}{
		{"in order", T{failures: []string{"no onEnrollResult within 10s"}, listened: true, received: []hidl.Callback{acq, errCb}}, Fail,
			"callbacks received: onAcquired(ACQUIRED_GOOD, vendorCode=0), onError(ERROR_UNABLE_TO_PROCESS, vendorCode=3)"},
		{"none", T{failures: []string{"x"}, listened: true}, Fail, "callbacks received: none"},
		{"long folded", T{failures: []string{"x"}, listened: true, received: many}, Fail,
			"callbacks received: onEnrollResult(fingerId=1, groupId=99, remaining=19), onEnrollResult(fingerId=1, groupId=99, remaining=18), " +
				"onEnrollResult(fingerId=1, groupId=99, remaining=17), onEnrollResult(fingerId=1, groupId=99, remaining=16), " +
				"onEnrollResult(fingerId=1, groupId=99, remaining=15), … 10 more …, onEnrollResult(fingerId=1, groupId=99, remaining=4), " +
				"onEnrollResult(fingerId=1, groupId=99, remaining=3), onEnrollResult(fingerId=1, groupId=99, remaining=2), " +
				"onEnrollResult(fingerId=1, groupId=99, remaining=1), onEnrollResult(fingerId=1, groupId=99, remaining=0)"},
		{"bounded", T{failures: []string{"x"}, listened: true, received: []hidl.Callback{acq}, receivedOver: 7}, Fail,
			"callbacks received: onAcquired(ACQUIRED_GOOD, vendorCode=0) (and 7 later ones)"},
		{"never listened", T{failures: []string{"getAuthenticatorId = 0"}}, Fail, ""},
		{"pass", T{listened: true, received: []hidl.Callback{acq}}, Pass, ""},
		{"skip", T{skip: "needs --sensor", listened: true}, Skip, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, reason := tc.t.outcome()
			require.Equal(t, tc.want, st)
			lines := strings.Split(reason, "\n")
			if tc.line == "" {
				assert.NotContains(t, reason, "callbacks received")
				return
			}
			assert.Equal(t, tc.t.failures, lines[:len(lines)-1], "the failures come first")
			assert.Equal(t, tc.line, lines[len(lines)-1])
		})
	}
}

// TestNotSelectedReportedAsSkipped: a case --run did not select or --skip
// deselected is in every output as skipped with reason "not selected":
// the text line, the JSON case and totals, and JUnit's
// <skipped message="not selected"/> — counted as skipped, never passed.
func TestNotSelectedReportedAsSkipped(t *testing.T) {
	rep := &Report{Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: time.Second, Results: []Result{
		{Suite: SuiteVTS, Name: "ConnectTest", Status: Pass, Duration: time.Second},
		{Suite: SuiteFpemu, Name: "LockoutExpiryTest", Status: Skip, Reason: NotSelected},
	}}
	pass, fail, skip := rep.Counts()
	assert.Equal(t, []int{1, 0, 1}, []int{pass, fail, skip})

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	assert.Regexp(t, `(?m)^SKIP  fpemu/LockoutExpiryTest +0\.000s  not selected$`, text.String())
	assert.Contains(t, text.String(), "ok: 1 passed, 0 failed, 1 skipped (2 cases)")

	var js struct {
		Passed, Skipped int
		Cases           []struct{ Name, Status, Reason string }
	}
	var jb bytes.Buffer
	require.NoError(t, rep.WriteJSON(&jb))
	require.NoError(t, json.Unmarshal(jb.Bytes(), &js))
	assert.Equal(t, 1, js.Passed)
	assert.Equal(t, 1, js.Skipped)
	assert.Equal(t, "SKIP", js.Cases[1].Status)
	assert.Equal(t, "not selected", js.Cases[1].Reason)

	var xb bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&xb))
	assert.Regexp(t, `<testcase name="LockoutExpiryTest" classname="fpemu.conform.fpemu" time="0.000">\s*<skipped message="not selected"></skipped>\s*</testcase>`, xb.String())
	var doc JUnitSuites
	require.NoError(t, xml.Unmarshal(xb.Bytes(), &doc))
	assert.Equal(t, 2, doc.Tests)
	assert.Equal(t, 1, doc.Skipped)
}

// TestRunReportsDeselectedCases runs two cases through a HAL that accepts
// any HAT: every other case is in the report as skipped, "not selected",
// in Cases order; the failures name the callbacks that did arrive.
func TestRunReportsDeselectedCases(t *testing.T) {
	t.Parallel()
	d := startDevice(t)
	target := d.Target()
	p := acceptsAnyHAT(t, d)
	target.HAL = serveProxy(t, target.HAL, p)
	rep := runWith(t, Config{Target: target, Run: regexp.MustCompile(`^fpemu/Enroll(Replayed|WrongChallenge)HatTest$`), credential: p.cred})

	require.Len(t, rep.Results, len(Cases()))
	for i, c := range Cases() {
		r := rep.Results[i]
		require.Equal(t, c.FullName(), r.FullName())
		if c.Name == "EnrollReplayedHatTest" || c.Name == "EnrollWrongChallengeHatTest" {
			assert.Equal(t, Fail, r.Status, r.Reason)
			assert.Regexp(t, `\ncallbacks received: (none|on[A-Z]\w+\(.*\))$`, r.Reason)
			continue
		}
		assert.Equal(t, Skip, r.Status, c.FullName())
		assert.Equal(t, NotSelected, r.Reason, c.FullName())
	}
	pass, fail, skip := rep.Counts()
	assert.Equal(t, fmt.Sprint(0, 2, len(Cases())-2), fmt.Sprint(pass, fail, skip))
	for _, r := range rep.Results {
		if r.Status == Fail {
			t.Logf("%s: %s", r.FullName(), r.Reason)
		}
	}
}
