package fingerprint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// TestLockoutPolicy replays LockoutFrameworkImpl: timed lockout at every
// 5th consecutive failure below 20, for 30 s, the counter surviving the
// timer; permanent from 20.
func TestLockoutPolicy(t *testing.T) {
	boot := []byte("boot-1")
	var l Lockout
	now := uint64(1000)
	for n := 1; n <= 25; n++ {
		l = l.Fail(now, boot)
		require.Equal(t, uint32(n), l.Failed)
		mode, left := l.Mode(now)
		switch {
		case n >= 20:
			assert.Equal(t, LockoutPermanent, mode, "failure %d", n)
			assert.Zero(t, left)
		case n%5 == 0:
			assert.Equal(t, LockoutTimed, mode, "failure %d", n)
			assert.Equal(t, uint64(30_000), left)
			m, left := l.Mode(now + 29_999)
			assert.Equal(t, LockoutTimed, m)
			assert.Equal(t, uint64(1), left)
			m, _ = l.Mode(now + 30_000)
			assert.Equal(t, LockoutNone, m, "the alarm clears the timed lockout at 30 s")
			now += 30_000
		default:
			assert.Equal(t, LockoutNone, mode, "failure %d", n)
		}
		now += 10
	}
	m, _ := l.Mode(now + uint64(24*time.Hour/time.Millisecond))
	assert.Equal(t, LockoutPermanent, m, "permanent does not expire")
}

// TestLockoutInBoot: a deadline of another boot means nothing on this
// boot's clock; a timed lockout that may have been running is re-armed
// for a full 30 s, the count kept; in the same boot nothing changes.
func TestLockoutInBoot(t *testing.T) {
	old, cur := []byte("old"), []byte("new")
	tests := []struct {
		name string
		in   Lockout
		want Lockout
	}{
		{"same boot", Lockout{Failed: 5, TimedUntilMs: 40_000, BootID: cur}, Lockout{Failed: 5, TimedUntilMs: 40_000, BootID: cur}},
		{"timed, rebooted", Lockout{Failed: 5, TimedUntilMs: 99_999_999, BootID: old}, Lockout{Failed: 5, TimedUntilMs: 30_100, BootID: cur}},
		{"between lockouts, rebooted", Lockout{Failed: 7, TimedUntilMs: 5_000, BootID: old}, Lockout{Failed: 7, BootID: cur}},
		{"permanent, rebooted", Lockout{Failed: 20, TimedUntilMs: 5_000, BootID: old}, Lockout{Failed: 20, BootID: cur}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := tc.in.InBoot(100, cur)
			assert.Equal(t, tc.want, got)
		})
	}
}

// rejectN runs one AUTHENTICATE with n impostor touches queued and reads
// events until n rejections (AUTHENTICATED with finger id 0 and no HAT)
// or an ERROR. If the operation is still running it is cancelled. It
// returns the events up to the first ERROR: LOCKOUT / LOCKOUT_PERMANENT
// when the rejections locked the group out, CANCELED otherwise.
func (b *bench) rejectN(t *testing.T, gid uint32, n int) []fpproto.Event {
	t.Helper()
	for j := range n {
		b.present(t, probe(testFinger(9000+uint64(j)), uint64(j)))
	}
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 0xCAFE, GID: gid}))
	var evs []fpproto.Event
	for rejected := 0; rejected < n; {
		e := b.next(t)
		evs = append(evs, e)
		switch e.Type {
		case fpproto.MsgAuthenticated:
			require.Zero(t, e.FingerID, "an impostor matched")
			require.Empty(t, e.HAT, "a rejection carries no HAT (HIDL 2.1)")
			rejected++
		case fpproto.MsgError:
			return evs
		}
	}
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	e := b.next(t)
	evs = append(evs, e)
	require.Equal(t, fpproto.MsgError, e.Type)
	if e.Error != fpproto.ErrorCanceled {
		require.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), b.next(t), "CANCEL after the operation ended")
	}
	b.quiet(t)
	return evs
}

// TestLockoutOverSockets: the 5th consecutive rejection ends the
// authentication with ERROR_LOCKOUT (30 s), AUTHENTICATE is refused while
// it lasts, the counter survives the timer (10th locks again), 20 is
// permanent (LOCKOUT_PERMANENT, 9), it all survives a TA restart, and a
// fresh PASSWORD HAT resets it.
func TestLockoutOverSockets(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid = 1
	f := testFinger(42)
	b.enroll(t, gid, 0x77, f)

	evs := b.rejectN(t, gid, 5)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), evs[len(evs)-1], "%v", evs)
	assert.Equal(t, 30*time.Second, evs[len(evs)-1].LockoutRemaining())

	d.Clock.Advance(10 * time.Second)
	b.present(t, probe(f, 1))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 9, GID: gid}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 20_000), b.next(t), "refused while locked, genuine finger or not")
	b.quiet(t)

	// A TA restart (same boot) keeps the lockout and its deadline.
	b.ta.Close()
	b = d.serve(t, d.open(t))
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 9, GID: gid}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 20_000), b.next(t))

	d.Clock.Advance(20 * time.Second)
	evs = b.rejectN(t, gid, 4)
	assert.Equal(t, fpproto.MsgError, evs[len(evs)-1].Type)
	evs = b.rejectN(t, gid, 1)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), evs[len(evs)-1], "the 10th failure locks again: %v", evs)

	for _, n := range []int{5, 5} {
		d.Clock.Advance(30 * time.Second)
		evs = b.rejectN(t, gid, n)
		require.Equal(t, fpproto.MsgError, evs[len(evs)-1].Type)
	}
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockoutPermanent, 0, 0), evs[len(evs)-1], "the 20th failure is permanent")
	d.Clock.Advance(24 * time.Hour)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 9, GID: gid}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockoutPermanent, 0, 0), b.next(t))

	// Another boot (new boot id, clock restarted) keeps it permanent.
	b.ta.Close()
	d.BootID = randBytes(t, 16)
	d.Clock.Set(1000)
	b = d.serve(t, d.open(t))
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 9, GID: gid}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockoutPermanent, 0, 0), b.next(t))

	// Only a fresh PASSWORD HAT resets it.
	res, err := fpproto.ResetLockout{GID: gid, HAT: d.passwordHAT(0, 0x77)}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	assert.Equal(t, fpproto.ResetLockoutResult{Error: fpproto.ErrorNoError}, res)
	evs = b.authenticate(t, 10, gid, probe(f, 2))
	assert.Equal(t, fpproto.MsgAuthenticated, evs[len(evs)-1].Type, "%v", evs)
}

// TestTimedLockoutAfterReboot: a timed lockout stored in another boot is
// re-armed for a full 30 s on the new boot clock.
func TestTimedLockoutAfterReboot(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	evs := b.rejectN(t, 3, 5)
	require.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), evs[len(evs)-1])
	b.ta.Close()
	d.BootID = randBytes(t, 16)
	d.Clock.Set(0)
	b = d.serve(t, d.open(t))
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	d.Clock.Set(500)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 3}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorLockout, 0, 30_000), b.next(t))
	d.Clock.Advance(30 * time.Second)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 3}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1), "no longer locked")
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
}

// TestSuccessResetsFailures: a match clears the counter, so failures
// before and after it do not add up to a lockout.
func TestSuccessResetsFailures(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	f := testFinger(43)
	b.enroll(t, 2, 5, f)
	evs := b.rejectN(t, 2, 4)
	require.NotEqual(t, fpproto.ErrorLockout, evs[len(evs)-1].Error)
	evs = b.authenticate(t, 1, 2, probe(f, 3))
	require.Equal(t, fpproto.MsgAuthenticated, evs[len(evs)-1].Type)
	evs = b.rejectN(t, 2, 4)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), evs[len(evs)-1], "4 failures: still going, cancelled by the test")
}

// TestSuccessInSameOperationResetsFailures: rejections and then a match
// within one AUTHENTICATE (the group had no failure when it began, so the
// match's reset is decided by what this operation recorded, not by a
// store read) still clear the counter: four more failures do not lock.
func TestSuccessInSameOperationResetsFailures(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	f := testFinger(44)
	b.enroll(t, 2, 5, f)
	var probes []matcher.Sample
	for j := range 4 {
		probes = append(probes, probe(testFinger(9100+uint64(j)), uint64(j)))
	}
	evs := b.authenticate(t, 1, 2, append(probes, probe(f, 3))...)
	last := evs[len(evs)-1]
	require.Equal(t, fpproto.MsgAuthenticated, last.Type, "%v", evs)
	require.NotZero(t, last.FingerID, "the genuine probe matched after 4 rejections: %v", evs)
	assert.Equal(t, uint32(0), lockoutOf(t, b.ta, 2).Failed, "the match cleared the 4 failures")
	evs = b.rejectN(t, 2, 4)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), evs[len(evs)-1], "4 failures: still going, cancelled by the test")
}

// TestResetLockoutChecks: RESET_LOCKOUT wants an authentic, recent
// PASSWORD HAT (no challenge); anything else leaves the lockout in place.
func TestResetLockoutChecks(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	evs := b.rejectN(t, 4, 5)
	require.Equal(t, fpproto.ErrorLockout, evs[len(evs)-1].Error)
	mint := func(typ tokens.AuthenticatorType, ts uint64) []byte {
		tok := tokens.Token{Challenge: 1234, UserID: 1, AuthenticatorType: typ, Timestamp: ts}
		d.mac.Sign(&tok)
		return tok.Marshal()
	}
	now := d.Clock.NowMs()
	badMAC := mint(tokens.AuthPassword, now)
	badMAC[40] ^= 1
	tests := []struct {
		name string
		hat  []byte
		want fpproto.ResetLockoutResult
	}{
		{"empty", nil, fpproto.ResetLockoutResult{Error: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATMalformed}},
		{"bad MAC", badMAC, fpproto.ResetLockoutResult{Error: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATMAC}},
		{"fingerprint HAT", mint(tokens.AuthFingerprint, now), fpproto.ResetLockoutResult{Error: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATAuthType}},
		{"stale", mint(tokens.AuthPassword, now-uint64(fpproto.DefaultHATMaxAge/time.Millisecond)-1), fpproto.ResetLockoutResult{Error: fpproto.ErrorUnableToProcess, Reason: fpproto.ReasonHATStale}},
	}
	for _, tc := range tests {
		res, err := fpproto.ResetLockout{GID: 4, HAT: tc.hat}.Execute(ctx(t), b.cmd)
		require.NoError(t, err)
		assert.Equal(t, tc.want, res, tc.name)
		require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 4}))
		assert.Equal(t, fpproto.ErrorLockout, b.next(t).Error, "%s: still locked", tc.name)
	}
	res, err := fpproto.ResetLockout{GID: 4, HAT: mint(tokens.AuthPassword, now)}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	assert.Equal(t, fpproto.ResetLockoutResult{}, res)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 4}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1), "unlocked")
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
}

// lockoutOf reads gid's stored lockout state.
func lockoutOf(t *testing.T, ta *TA, gid uint32) Lockout {
	t.Helper()
	var l Lockout
	require.NoError(t, ta.Store.View(ctx(t), func(tx *store.Tx) error {
		var err error
		l, err = loadLockout(tx, gid)
		return err
	}))
	return l
}
