package attack

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

func TestTallyVerdict(t *testing.T) {
	errOther := errors.New("connection reset")
	tests := []struct {
		name     string
		want     Verdict
		probes   func(*tally)
		verdict  Verdict
		observed string
		findings int
	}{
		{"all refused", Rejected, func(t *tally) {
			t.refused("a", tee.ErrSecurity, tee.ErrSecurity)
			t.refused("b", kmproto.ErrKeyUserNotAuthenticated, kmproto.ErrKeyUserNotAuthenticated)
		}, Rejected, "a → TEEC_ERROR_SECURITY; b → KM_ERROR_KEY_USER_NOT_AUTHENTICATED", 0},
		{"summary wins", Rejected, func(t *tally) {
			t.refused("a", tee.ErrSecurity, tee.ErrSecurity)
			t.summarize("one refused")
		}, Rejected, "one refused", 0},
		{"one accepted", Rejected, func(t *tally) {
			t.refused("a", tee.ErrSecurity, tee.ErrSecurity)
			t.refused("b", nil, tee.ErrSecurity)
		}, NotRejected, "1 input got through: b: accepted", 1},
		{"wrong error is no defence", Rejected, func(t *tally) {
			t.refused("a", errOther, tee.ErrSecurity)
		}, Inconclusive, "could not judge: a: unexpected answer connection reset (want TEEC_ERROR_SECURITY)", 1},
		{"failed control", Rejected, func(t *tally) {
			t.refused("a", tee.ErrSecurity, tee.ErrSecurity)
			t.must("control", errOther)
		}, Inconclusive, "could not judge: control: connection reset", 1},
		{"breach beats broken", Rejected, func(t *tally) {
			t.must("control", errOther)
			t.breachf("x got in")
		}, NotRejected, "1 input got through: x got in", 2},
		{"nothing observed", Rejected, func(*tally) {}, Inconclusive, "nothing observed", 0},
		{"survived", Survived, func(t *tally) { t.heldf("alive") }, Survived, "alive", 0},
		{"not survived", Survived, func(t *tally) { t.heldf("alive"); t.breachf("died") }, NotSurvived, "1 input got through: died", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := &tally{want: tc.want}
			tc.probes(tl)
			assert.Equal(t, tc.verdict, tl.verdict())
			assert.Equal(t, tc.verdict.Held(), tl.verdict() == tc.want)
			assert.Equal(t, tc.observed, tl.observed())
			assert.Len(t, tl.findings(), tc.findings)
		})
	}
}

func TestMustReportsSuccess(t *testing.T) {
	tl := &tally{want: Rejected}
	assert.True(t, tl.must("ok", nil))
	assert.False(t, tl.must("bad", errors.New("x")))
	assert.Equal(t, []string{"bad: x"}, tl.broken)
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "success"},
		{kmproto.ErrKeyUserNotAuthenticated, "KM_ERROR_KEY_USER_NOT_AUTHENTICATED"},
		{&tee.Error{Code: kmproto.ErrorInvalidKeyBlob.Result(), Origin: tee.OriginTrustedApp}, "0x4B4D0021"},
		{payproto.ErrNotAuthorized, "PAYMENT_NOT_AUTHORIZED"},
		{tee.Errorf(tee.ResultSecurity, tee.OriginTrustedApp, "replay"), "TEEC_ERROR_SECURITY"},
		{&drive.OpError{Code: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATMAC}, "ERROR_UNABLE_TO_PROCESS (HAT MAC)"},
		{&drive.OpError{Code: fpproto.ErrorUnableToProcess}, "ERROR_UNABLE_TO_PROCESS"},
		{errors.New(strings.Repeat("x", 300)), strings.Repeat("x", 157) + "..."},
		// The client library's own result keeps what ran out: a row that
		// could not be judged says which wait and why.
		{
			fmt.Errorf("enroll after 2 touches: NEXT_EVENT: %w", &tee.Error{Code: tee.ResultCancel, Origin: tee.OriginAPI, Detail: "context deadline exceeded"}),
			"enroll after 2 touches: NEXT_EVENT: TEEC_ERROR_CANCEL (TEEC_ORIGIN_API): context deadline exceeded",
		},
		{fmt.Errorf("ENROLL: %w", &tee.Error{Code: tee.ResultTargetDead, Origin: tee.OriginComms}), "TEEC_ERROR_TARGET_DEAD"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, describe(tc.err))
	}
	assert.ErrorIs(t, &drive.OpError{Code: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATChallenge}, errUnableToProcess)
	assert.NotErrorIs(t, &drive.OpError{Code: fpproto.ErrorHWUnavailable}, errUnableToProcess)
}

func TestReportOutput(t *testing.T) {
	rep := &Report{Results: []Result{
		{ID: "a", Attack: "do a", Defence: "rule a", Observed: "refused", Verdict: Rejected, Held: true, Duration: time.Second},
		{ID: "b", Attack: "do b", Defence: "rule b", Observed: "1 input got through: x", Verdict: NotRejected,
			Findings: []string{"x: accepted"}, Duration: time.Second},
	}}
	assert.False(t, rep.OK())
	assert.Equal(t, []Result{rep.Results[1]}, rep.Failed())
	var b strings.Builder
	require.NoError(t, WriteTable(&b, rep))
	out := b.String()
	lines := strings.Split(out, "\n")
	assert.Regexp(t, `^ID\s+ATTACK\s+EXPECTED DEFENCE\s+OBSERVED\s+RESULT$`, lines[0])
	assert.Regexp(t, `^a\s+do a\s+rule a\s+refused\s+rejected$`, lines[1])
	assert.Regexp(t, `^b\s+do b\s+rule b\s+1 input got through: x\s+NOT REJECTED$`, lines[2])
	assert.Contains(t, out, "b: NOT REJECTED\n  - x: accepted\n")
	assert.Contains(t, out, "1 of 2 defences did not hold: b (NOT REJECTED)")

	b.Reset()
	require.NoError(t, WriteJSON(&b, rep.Results[1]))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &got))
	assert.Equal(t, "NOT REJECTED", got["result"])
	assert.Equal(t, false, got["held"])
	assert.Equal(t, []any{"x: accepted"}, got["findings"])
	assert.True(t, strings.HasSuffix(b.String(), "}\n"))

	ok := &Report{Results: rep.Results[:1]}
	assert.True(t, ok.OK())
	assert.Equal(t, "1 attack: 1 rejected, 0 survived — every defence held (1.0 s)", Summary(ok))
	assert.False(t, (&Report{}).OK(), "an empty run proves nothing")
}

func TestAttacksListed(t *testing.T) {
	ids := map[string]bool{}
	for _, a := range Attacks() {
		assert.False(t, ids[a.ID], "duplicate %s", a.ID)
		ids[a.ID] = true
		assert.NotEmpty(t, a.Attack)
		assert.NotEmpty(t, a.Defence)
		assert.Contains(t, []Verdict{Rejected, Survived}, a.Want)
	}
	assert.Len(t, ids, len(suite))
}
