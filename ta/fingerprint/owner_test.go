package fingerprint

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor"
	"github.com/fpemu/fpemu/tee/store"
)

// The SIDs of two Gatekeeper users: the owner of the enrolled group and
// another user of the same device.
const (
	ownerSID = 0x77
	otherSID = 0x88
)

// TestResetLockoutOwnerOnly: RESET_LOCKOUT clears a group's counter only
// with a fresh PASSWORD HAT whose user_id is the SID its templates are
// bound to; another user's HAT is refused with ErrNotGroupOwner
// (ERROR_UNABLE_TO_PROCESS, reason 11) and leaves the count untouched; an
// empty group accepts any authentic HAT.
func TestResetLockoutOwnerOnly(t *testing.T) {
	tests := []struct {
		name    string
		enroll  bool   // the group has a template of ownerSID
		hatSID  uint64 // the RESET_LOCKOUT HAT's user_id
		cleared bool
	}{
		{"owner", true, ownerSID, true},
		{"another user", true, otherSID, false},
		{"SID 0", true, 0, false},
		{"empty group, any user", false, otherSID, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			b := d.ready(t)
			const gid = 5
			f := testFinger(42)
			if tc.enroll {
				b.enroll(t, gid, ownerSID, f)
			}
			evs := b.rejectN(t, gid, 5)
			require.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), evs[len(evs)-1])

			res, err := fpproto.ResetLockout{GID: gid, HAT: d.passwordHAT(0, tc.hatSID)}.Execute(ctx(t), b.cmd)
			require.NoError(t, err)
			if tc.cleared {
				assert.Equal(t, fpproto.ResetLockoutResult{}, res)
				assert.NoError(t, res.Err())
				// Counting starts again from 0: four failures do not lock.
				evs = b.rejectN(t, gid, 4)
				assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), evs[len(evs)-1], "%v", evs)
				return
			}
			assert.Equal(t, fpproto.ResetLockoutResult{Error: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATUser}, res)
			require.ErrorIs(t, res.Err(), fpproto.ErrNotGroupOwner)
			var he *fpproto.HATError
			require.ErrorAs(t, res.Err(), &he)
			assert.Equal(t, fpproto.ErrorUnableToProcess, he.Code)
			// Still locked out, and the count is untouched: when the timer
			// runs out, five more failures (10) lock again, the owner's
			// reset then clears it.
			require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: gid}))
			assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), b.next(t))
			b.quiet(t)
			var l Lockout
			require.NoError(t, b.ta.Store.View(ctx(t), func(tx *store.Tx) error {
				var err error
				l, err = loadLockout(tx, gid)
				return err
			}))
			assert.Equal(t, uint32(5), l.Failed, "a refused reset writes nothing")
			res, err = fpproto.ResetLockout{GID: gid, HAT: d.passwordHAT(0, ownerSID)}.Execute(ctx(t), b.cmd)
			require.NoError(t, err)
			assert.Equal(t, fpproto.ResetLockoutResult{}, res)
			evs = b.authenticate(t, 2, gid, probe(f, 1))
			assert.Equal(t, fpproto.MsgAuthenticated, evs[len(evs)-1].Type, "%v", evs)
		})
	}
}

// TestEnrollBindsGroupToOneSID: a group with templates is bound to their
// SID; ENROLL with another user's HAT ends at once with
// ERROR(UNABLE_TO_PROCESS, 11), stores nothing and keeps the
// authenticator id; the owner can still enroll, and an empty group takes
// any user.
func TestEnrollBindsGroupToOneSID(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid = 1
	b.enroll(t, gid, ownerSID, testFinger(42))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}))
	before, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	fids, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)

	c := b.preEnroll(t)
	captures := b.ta.Sensor().Status().Captures
	b.present(t, enrollSamples(testFinger(43), 1)...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, otherSID), GID: gid, TimeoutSec: 10}))
	e := b.next(t)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonHATUser)), e)
	assert.ErrorIs(t, fpproto.ReasonError(e.Error, e.Reason()), fpproto.ErrNotGroupOwner)
	b.quiet(t)
	assert.Equal(t, captures, b.ta.Sensor().Status().Captures, "refused before any capture")
	after, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	assert.Equal(t, before, after, "authenticator id unchanged")
	got, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	assert.Equal(t, fids, got, "nothing stored")
	require.NoError(t, b.sensor.Reset(ctx(t)))

	// The challenge is still valid: the owner's HAT for it enrolls.
	b.present(t, enrollSamples(testFinger(43), 2)...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, ownerSID), GID: gid, TimeoutSec: 10}))
	evs := b.until(t, enrollEnd)
	assert.Equal(t, fpproto.MsgTemplateEnrolling, evs[len(evs)-1].Type, "%v", evs)
	// Another group, empty: any user binds it.
	b.enroll(t, gid+1, otherSID, testFinger(44))
	for _, r := range templates(t, b.ta, gid) {
		assert.Equal(t, uint64(ownerSID), r.Record.SID)
	}
	for _, r := range templates(t, b.ta, gid+1) {
		assert.Equal(t, uint64(otherSID), r.Record.SID)
	}
}

// TestRejectionsLogNothingGraded: rejected touches of very different
// similarity — a near miss (the enrolled finger badly displaced), a far
// impostor, a sample with few minutiae — produce the same events and the
// same log lines, and no line has a score, distance or feature count. A
// sample below 8 minutiae is ACQUIRED(INSUFFICIENT) only, as for every
// finger.
func TestRejectionsLogNothingGraded(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	d := newDevice(t)
	cfg := d.config(t, sensor.New())
	cfg.Logger = zap.New(core)
	ta, err := NewTA(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ta.Close() })
	b := d.serve(t, ta)
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	const gid = 2
	f := testFinger(42)
	b.enroll(t, gid, ownerSID, f)

	few := probe(testFinger(9001), 1)
	few.Minutiae = few.Minutiae[:matcher.MinTemplateMinutiae]
	m := matcher.NewMinutiae(matcher.DefaultThreshold)
	tmpl := templates(t, ta, gid)[0].Record.Template
	parsed, err := m.ParseTemplate(tmpl)
	require.NoError(t, err)
	near := nearMiss(t, m, parsed, f)
	probes := map[string]matcher.Sample{
		"near miss":      near,
		"far impostor":   probe(testFinger(9002), 2),
		"few minutiae":   few,
		"other impostor": probe(testFinger(9003), 3),
	}
	scores := map[string]float64{}
	var transcripts = map[string]string{}
	for name, p := range probes {
		s, err := m.Match(parsed, p)
		require.NoError(t, err)
		require.Less(t, s, m.Threshold(), "%s must be a rejection", name)
		scores[name] = s
		logs.TakeAll()
		b.present(t, p)
		require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 7, GID: gid}))
		evs := b.until(t, func(e fpproto.Event) bool { return e.Type == fpproto.MsgAuthenticated })
		require.Equal(t, fpproto.Event{Type: fpproto.MsgAuthenticated, GroupID: gid}, evs[len(evs)-1], "%s: %v", name, evs)
		require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
		evs = append(evs, b.until(t, isError)...)
		tr := ""
		for _, e := range evs {
			tr += e.String() + "\n"
		}
		for _, l := range logs.TakeAll() {
			tr += l.Message
			fields := l.ContextMap()
			for _, k := range slices.Sorted(maps.Keys(fields)) {
				assert.NotRegexp(t, `(?i)score|distance|similar|minuti|feature`, k, "%s: %s", name, l.Message)
				tr += fmt.Sprintf(" %s=%v", k, fields[k])
			}
			tr += "\n"
		}
		transcripts[name] = tr
		res, err := fpproto.ResetLockout{GID: gid, HAT: d.passwordHAT(0, ownerSID)}.Execute(ctx(t), b.cmd)
		require.NoError(t, err)
		require.NoError(t, res.Err())
	}
	assert.NotEqual(t, scores["near miss"], scores["far impostor"], "the probes differ in similarity")
	for name, tr := range transcripts {
		assert.Equal(t, transcripts["far impostor"], tr, "%s differs from a far impostor", name)
	}
}

// nearMiss returns an impression of f, jittered just enough to fall below
// the matcher's threshold: the closest rejection the test can build.
func nearMiss(t *testing.T, m matcher.Matcher, tmpl matcher.Template, f []matcher.Minutia) matcher.Sample {
	t.Helper()
	for jitter := 1.0; jitter < 40; jitter += 0.5 {
		s := probe(f, 1)
		r := rand.New(rand.NewPCG(uint64(jitter*2), 9))
		for i := range s.Minutiae {
			s.Minutiae[i].X = min(max(s.Minutiae[i].X+r.NormFloat64()*jitter, 0), float64(s.Width)-1)
			s.Minutiae[i].Y = min(max(s.Minutiae[i].Y+r.NormFloat64()*jitter, 0), float64(s.Height)-1)
		}
		score, err := m.Match(tmpl, s)
		require.NoError(t, err)
		if score < m.Threshold() {
			t.Logf("near miss: jitter %.1f px, score %.3f (threshold %.3f)", jitter, score, m.Threshold())
			return s
		}
	}
	t.Fatal("no near miss found")
	return matcher.Sample{}
}
