package fingerprint

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/tokens"
)

// assertNothingEnrolled checks that a refused or failed enrollment stored
// nothing: no template, authenticator id still 0.
func assertNothingEnrolled(t *testing.T, b *bench, gid uint32) {
	t.Helper()
	fids, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	assert.Empty(t, fids, "nothing stored")
	id, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	assert.Zero(t, id, "authenticator id unchanged")
}

// TestEnrollHATCheckOrder: ENROLL checks the HAT in the order parse,
// version, MAC, outstanding challenge, PASSWORD type, freshness. Each case
// breaks one check and every check after it, so the reason reported is the
// first broken check; each ends the operation with one ERROR event, stores
// nothing and never reads the sensor.
func TestEnrollHATCheckOrder(t *testing.T) {
	const sid = 0x5151
	type hat struct {
		version   uint8
		badMAC    bool
		challenge func(c uint64) uint64
		typ       tokens.AuthenticatorType
		ageMs     int64 // negative: in the future
		size      int
	}
	valid := hat{challenge: func(c uint64) uint64 { return c }, typ: tokens.AuthPassword, size: tokens.Size}
	brk := func(from int) hat {
		h := valid
		if from <= 5 {
			h.ageMs = int64(fpproto.DefaultHATMaxAge/time.Millisecond) + 1
		}
		if from <= 4 {
			h.typ = tokens.AuthFingerprint
		}
		if from <= 3 {
			h.challenge = func(c uint64) uint64 { return c + 1 }
		}
		if from <= 2 {
			h.badMAC = true
		}
		if from <= 1 {
			h.version = 1
		}
		if from <= 0 {
			h.size = tokens.Size - 1
		}
		return h
	}
	future := valid
	future.ageMs = -2000
	anyType := valid
	anyType.typ = tokens.AuthAny
	tests := []struct {
		name   string
		hat    hat
		reason fpproto.Reason
	}{
		{"malformed (68 bytes)", brk(0), fpproto.ReasonHATMalformed},
		{"version 1", brk(1), fpproto.ReasonHATVersion},
		{"MAC", brk(2), fpproto.ReasonHATMAC},
		{"challenge not the outstanding one", brk(3), fpproto.ReasonHATChallenge},
		{"authenticator type FINGERPRINT", brk(4), fpproto.ReasonHATAuthType},
		{"stale by 1 ms", brk(5), fpproto.ReasonHATStale},
		{"2 s in the future", future, fpproto.ReasonHATStale},
		{"valid but for a type ANY (includes PASSWORD) — accepted", anyType, fpproto.ReasonNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			b := d.ready(t)
			c := b.preEnroll(t)
			ts := uint64(int64(d.Clock.NowMs()) - tc.hat.ageMs)
			raw := tokens.Token{Version: tc.hat.version, Challenge: tc.hat.challenge(c), UserID: sid,
				AuthenticatorType: tc.hat.typ, Timestamp: ts}
			d.mac.Sign(&raw)
			if tc.hat.badMAC {
				raw.MAC[0] ^= 1
			}
			h := raw.Marshal()[:tc.hat.size]
			b.present(t, enrollSamples(testFinger(3), 3)...)
			require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: h, GID: 1, TimeoutSec: 5}))
			if tc.reason == fpproto.ReasonNone {
				evs := b.until(t, enrollEnd)
				assert.Equal(t, fpproto.MsgTemplateEnrolling, evs[len(evs)-1].Type, "%v", evs)
				return
			}
			e := b.next(t)
			assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess, Detail: uint32(tc.reason)}, e)
			b.quiet(t)
			assertNothingEnrolled(t, b, 1)
			st, err := b.sensor.Status(ctx(t))
			require.NoError(t, err)
			assert.Zero(t, st.Captures, "the sensor is not read after a refused HAT")
			assert.Equal(t, fpproto.DefaultEnrollSamples, st.Queued)
			assert.False(t, b.ta.Busy())
		})
	}
}

// TestEnrollWithoutAuthTokenKey: before SET_AUTH_TOKEN_KEY every HAT check
// fails closed with HW_UNAVAILABLE, even for a HAT that would be valid.
func TestEnrollWithoutAuthTokenKey(t *testing.T) {
	d := newDevice(t)
	b := d.serve(t, d.open(t))
	c := b.preEnroll(t)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, 1), GID: 1}))
	assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorHWUnavailable, Detail: uint32(fpproto.ReasonNoAuthTokenKey)}, b.next(t))
	assertNothingEnrolled(t, b, 1)

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
	assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorHWUnavailable, Detail: uint32(fpproto.ReasonNoAuthTokenKey)}, b.next(t))
	res, err := fpproto.ResetLockout{GID: 1, HAT: d.passwordHAT(0, 1)}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	assert.Equal(t, fpproto.ResetLockoutResult{Error: fpproto.ErrorHWUnavailable, Reason: fpproto.ReasonNoAuthTokenKey}, res)
}

// TestChallengeLifetime: POST_ENROLL invalidates the challenge, so does its
// 10-minute expiry and a newer PRE_ENROLL; each is refused as a challenge
// failure with nothing stored.
func TestChallengeLifetime(t *testing.T) {
	tests := []struct {
		name string
		mut  func(b *bench)
	}{
		{"post_enroll", func(b *bench) {
			_, err := fpproto.PostEnroll{}.Execute(context.Background(), b.cmd)
			require.NoError(t, err)
		}},
		{"expired", func(b *bench) { b.d.Clock.Advance(fpproto.DefaultChallengeTimeout) }},
		{"superseded by a newer pre_enroll", func(b *bench) {
			_, err := fpproto.PreEnroll{}.Execute(context.Background(), b.cmd)
			require.NoError(t, err)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			b := d.ready(t)
			c := b.preEnroll(t)
			tc.mut(b)
			require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, 9), GID: 2}))
			assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess, Detail: uint32(fpproto.ReasonHATChallenge)}, b.next(t))
			assertNothingEnrolled(t, b, 2)
		})
	}
	t.Run("just before expiry", func(t *testing.T) {
		d := newDevice(t)
		b := d.ready(t)
		c := b.preEnroll(t)
		d.Clock.Advance(fpproto.DefaultChallengeTimeout - time.Millisecond)
		b.present(t, enrollSamples(testFinger(4), 4)...)
		require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, 9), GID: 2}))
		evs := b.until(t, enrollEnd)
		assert.Equal(t, fpproto.MsgTemplateEnrolling, evs[len(evs)-1].Type, "%v", evs)
	})
}

// TestPreEnroll: challenges are non-zero and unique (VTS PreEnrollTest).
func TestPreEnroll(t *testing.T) {
	b := newDevice(t).ready(t)
	seen := map[uint64]bool{}
	for range 10 {
		c := b.preEnroll(t)
		require.NotZero(t, c)
		require.False(t, seen[c], "challenge repeated")
		seen[c] = true
	}
}

// TestEnrollProgress: acquisition messages and insufficient samples do not
// count; each good sample is ACQUIRED(GOOD) then TEMPLATE_ENROLLING with
// samples_remaining counting 7…1, and TEMPLATE_ENROLLING(…, 0) comes only
// after the commit. The HAT's user_id is the SID bound to the template.
func TestEnrollProgress(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid, sid = 3, 0xABCDEF0123456789
	c := b.preEnroll(t)
	ss := enrollSamples(testFinger(5), 5)
	thin := matcher.Sample{Width: 200, Height: 200, Minutiae: ss[0].Minutiae[:3]}
	require.NoError(t, b.sensor.Acquired(ctx(t), int32(fpproto.AcquiredPartial), 0))
	b.present(t, ss[0], thin)
	require.NoError(t, b.sensor.Acquired(ctx(t), int32(fpproto.AcquiredVendor), 42))
	b.present(t, ss[1:]...)

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, sid), GID: gid, TimeoutSec: 10}))
	evs := b.until(t, enrollEnd)
	fid := evs[len(evs)-1].FingerID
	require.NotZero(t, fid, "%v", evs)
	assert.Less(t, fid, uint32(1<<31), "finger ids fit a Java int")

	want := []fpproto.Event{
		fpproto.AcquiredEvent(fpproto.AcquiredPartial, 0),
		fpproto.AcquiredEvent(fpproto.AcquiredGood, 0), fpproto.FingerEvent(fpproto.MsgTemplateEnrolling, fid, gid, 7),
		fpproto.AcquiredEvent(fpproto.AcquiredInsufficient, 0),
		fpproto.AcquiredEvent(fpproto.AcquiredVendor, 42),
	}
	for r := 6; r >= 0; r-- {
		want = append(want, fpproto.AcquiredEvent(fpproto.AcquiredGood, 0), fpproto.FingerEvent(fpproto.MsgTemplateEnrolling, fid, gid, uint32(r)))
	}
	assert.Equal(t, want, evs)
	b.quiet(t)

	recs := templates(t, b.ta, gid)
	require.Len(t, recs, 1)
	assert.Equal(t, fid, recs[0].FID)
	assert.Equal(t, uint64(sid), recs[0].Record.SID)
	assert.Equal(t, matcher.MinutiaeName, recs[0].Record.Matcher)
	_, err := matcher.ParseMinutiaeTemplate(recs[0].Record.Template)
	assert.NoError(t, err)
}

// TestEnrollTimeout: with no finger, the enrollment ends with
// ERROR_TIMEOUT after timeout_sec; a scripted NO_FINGER ends it at once.
// Neither stores anything, and the challenge stays valid.
func TestEnrollTimeout(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	c := b.preEnroll(t)
	hat := d.passwordHAT(c, 5)

	b.present(t, enrollSamples(testFinger(6), 6)[:2]...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 4, TimeoutSec: 1}))
	evs := b.until(t, isError)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorTimeout, 0, 0), evs[len(evs)-1])
	assert.Len(t, evs, 5, "2 × (GOOD, progress), then the timeout: %v", evs)
	assertNothingEnrolled(t, b, 4)

	require.NoError(t, b.sensor.NoFinger(ctx(t)))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 4, TimeoutSec: 60}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorTimeout, 0, uint32(fpproto.ReasonSensor)), b.next(t))
	assertNothingEnrolled(t, b, 4)
}

// TestEnrollNoSpace: a group holds 5 templates; the 6th enrollment ends
// with ERROR_NO_SPACE before the sensor is read.
func TestEnrollNoSpace(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid = 5
	for i := range fpproto.MaxTemplatesPerGroup {
		b.enroll(t, gid, 77, testFinger(uint64(100+i)))
	}
	c := b.preEnroll(t)
	b.present(t, enrollSamples(testFinger(200), 200)...)
	before, err := b.sensor.Status(ctx(t))
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, 77), GID: gid}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorNoSpace, 0, 0), b.next(t))
	b.quiet(t)
	after, err := b.sensor.Status(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, before.Captures, after.Captures)
	fids, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	assert.Len(t, fids, fpproto.MaxTemplatesPerGroup)

	// Another group is not affected.
	b.enroll(t, gid+1, 77, testFinger(300))
}

// TestEnrollMergeFailure: samples that do not come from one finger cannot
// be merged: ERROR(UNABLE_TO_PROCESS) and nothing stored.
func TestEnrollMergeFailure(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	c := b.preEnroll(t)
	for i := range fpproto.DefaultEnrollSamples {
		b.present(t, probe(testFinger(uint64(400+i)), uint64(i)))
	}
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: d.passwordHAT(c, 1), GID: 6}))
	evs := b.until(t, isError)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonEnrollMerge)), evs[len(evs)-1])
	assertNothingEnrolled(t, b, 6)
}

// TestCancelEnrollKeepsChallenge: CANCEL from another session ends a
// waiting enrollment with ERROR_CANCELED, stores nothing, and the
// PRE_ENROLL challenge still enrolls afterwards (fingerprint.h: cancel
// does not invalidate it).
func TestCancelEnrollKeepsChallenge(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	c := b.preEnroll(t)
	hat := d.passwordHAT(c, 11)
	ss := enrollSamples(testFinger(7), 7)
	b.present(t, ss[:3]...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 7}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	evs := b.until(t, isError)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), evs[len(evs)-1])
	assert.Len(t, evs, 7, "3 × (GOOD, progress), then CANCELED: %v", evs)
	assertNothingEnrolled(t, b, 7)
	assert.False(t, b.ta.Busy())

	b.present(t, ss...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 7}))
	evs = b.until(t, enrollEnd)
	assert.Equal(t, fpproto.MsgTemplateEnrolling, evs[len(evs)-1].Type, "%v", evs)
}

// TestCancel covers CANCEL when idle (VTS CancelTest: ERROR_CANCELED all
// the same) and during an authentication (VTS CancelAuthTest).
func TestCancel(t *testing.T) {
	b := newDevice(t).ready(t)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), b.next(t))
	b.quiet(t)

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 0, GID: 99}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), b.next(t))
	b.quiet(t)
	st, err := b.sensor.Status(ctx(t))
	require.NoError(t, err)
	assert.Zero(t, st.Waiting, "the capture was abandoned")
}

// TestEnrollHATReplay: a HAT that enrolled once enrolls again only while
// its challenge is outstanding; after POST_ENROLL the replay is refused.
func TestEnrollHATReplay(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	c := b.preEnroll(t)
	hat := keymastertest.Mint(d.mac, keymastertest.HAT{Challenge: c, UserID: 8, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
	b.present(t, enrollSamples(testFinger(8), 8)...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 8}))
	b.until(t, enrollEnd)
	b.do(t, fpproto.PostEnroll{})
	b.present(t, enrollSamples(testFinger(9), 9)...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: hat, GID: 8}))
	assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess, Detail: uint32(fpproto.ReasonHATChallenge)}, b.next(t))
	fids, err := b.ta.Fingers(ctx(t), 8)
	require.NoError(t, err)
	assert.Len(t, fids, 1)
}
