package gatekeeper

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

var ctx = context.Background()

func TestNewTAConfigErrors(t *testing.T) {
	d := newDevice(t)
	mods := map[string]func(c *Config){
		"unknown self":    func(c *Config) { c.Self = tee.UUID{1} },
		"no clock":        func(c *Config) { c.Clock = nil },
		"no store":        func(c *Config) { c.DBPath = "" },
		"no keys":         func(c *Config) { c.Keys = nil },
		"short storage":   func(c *Config) { c.StorageKey = make([]byte, 8) },
		"no boot id":      func(c *Config) { c.BootID = nil },
		"bad mac":         func(c *Config) { c.MACAlgorithm = 9 },
		"opener and keys": func(c *Config) { c.Opener = mustOpener(t, d) },
		"foreign opener": func(c *Config) {
			o, err := envelope.NewOpener(tee.UUIDFingerprint, d.Keys.For(tee.UUIDFingerprint), envelope.NewMemoryGuard())
			require.NoError(t, err)
			c.Keys, c.Opener = nil, o
		},
	}
	for name, mod := range mods {
		t.Run(name, func(t *testing.T) {
			cfg := d.config()
			mod(&cfg)
			ta, err := NewTA(cfg)
			require.ErrorIs(t, err, ErrConfig)
			assert.Nil(t, ta)
		})
	}
	// A caller-built opener is accepted.
	cfg := d.config()
	cfg.Keys, cfg.Opener = nil, mustOpener(t, d)
	ta, err := NewTA(cfg)
	require.NoError(t, err)
	require.NoError(t, ta.Close())
	require.NoError(t, ta.Close(), "idempotent")
}

func mustOpener(t testing.TB, d *device) *envelope.Opener {
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, d.Keys.For(tee.UUIDGatekeeper), envelope.NewMemoryGuard())
	require.NoError(t, err)
	return o
}

func TestVerifyRefusesWithoutAuthTokenKey(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	assert.False(t, ta.HasAuthTokenKey())
	e := enroll(t, ta, 0, []byte("pw"))
	_, err := ta.Verify(ctx, 0, 1, gkproto.VerifyPayload{Handle: e.Handle, Password: []byte("pw")})
	require.ErrorIs(t, err, tacore.ErrNoAuthTokenKey)
	assert.Zero(t, record(t, ta, e.SecureUserID).FailureCounter, "a refused verify is not an attempt")

	require.NoError(t, ta.SetAuthTokenKey(d.keyEnvelope(t)))
	assert.True(t, ta.HasAuthTokenKey())
	rsp := verify(t, ta, 0, 1, e.Handle, []byte("pw"))
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	assert.NotEqual(t, [32]byte{}, rsp.Token.MAC)
}

func TestSetAuthTokenKeyRejections(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)

	tampered := d.keyEnvelope(t)
	tampered[len(tampered)-1] ^= 1
	require.ErrorIs(t, ta.SetAuthTokenKey(tampered), envelope.ErrAuth)
	require.ErrorIs(t, ta.SetAuthTokenKey(tampered[:10]), envelope.ErrMalformed)

	// Addressed to the fingerprint TA: the REE cannot redirect it.
	toFP, err := d.KM.Seal(tee.UUIDFingerprint, envelope.MsgAuthTokenKey, d.hatKey)
	require.NoError(t, err)
	require.ErrorIs(t, ta.SetAuthTokenKey(toFP), envelope.ErrWrongRecipient)

	// Keymaster sent something that is not a 32-byte key.
	short, err := d.KM.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, d.hatKey[:31])
	require.NoError(t, err)
	require.ErrorIs(t, ta.SetAuthTokenKey(short), tacore.ErrKeyPayload)

	// Another boot's keys (an envelope recorded earlier) do not open.
	other := newDevice(t)
	require.ErrorIs(t, ta.SetAuthTokenKey(other.keyEnvelope(t)), envelope.ErrAuth)
	assert.False(t, ta.HasAuthTokenKey(), "nothing was installed")

	// Envelopes are accepted in sequence order only: the short one above
	// was authentic and moved the mark.
	env := d.keyEnvelope(t)
	require.NoError(t, ta.SetAuthTokenKey(env))
	require.ErrorIs(t, ta.SetAuthTokenKey(env), envelope.ErrReplay)
	// A newer envelope (Keymaster asked again) is accepted.
	require.NoError(t, ta.SetAuthTokenKey(d.keyEnvelope(t)))
}

func TestReplayMarkSurvivesRestart(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	env := d.keyEnvelope(t)
	require.NoError(t, ta.SetAuthTokenKey(env))
	require.NoError(t, ta.Close())

	ta = d.open(t)
	assert.False(t, ta.HasAuthTokenKey(), "the per-boot key is not persisted")
	require.ErrorIs(t, ta.SetAuthTokenKey(env), envelope.ErrReplay, "restarted TA still rejects the replay")
	require.NoError(t, ta.SetAuthTokenKey(d.keyEnvelope(t)))
	require.NoError(t, ta.Close())

	// The next boot: marks of the old boot do not apply (new keys, and the
	// sender's sequence numbers restart).
	d.BootID = randBytes(t, 16)
	d.KM, _ = envelope.NewSealer(tee.UUIDKeymaster, d.Keys.For(tee.UUIDKeymaster), nil) // counter restarts at 1
	ta = d.open(t)
	require.NoError(t, ta.SetAuthTokenKey(d.keyEnvelope(t)))
}

func TestVerifyMintsPasswordToken(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 7, []byte("correcthorsebatterystaple"))
	require.Len(t, e.Handle, gkproto.HandleSize)
	assert.NotZero(t, e.SecureUserID)
	h, err := gkproto.ParseHandle(e.Handle)
	require.NoError(t, err)
	assert.Equal(t, e.SecureUserID, h.UserID)
	assert.Equal(t, gkproto.HandleFlagThrottleSecure, h.Flags)
	assert.True(t, h.HardwareBacked)

	d.Clock.Set(123456789)
	rsp := verify(t, ta, 7, 0xdeadbeefcafef00d, e.Handle, []byte("correcthorsebatterystaple"))
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	assert.False(t, rsp.RequestReenroll)
	want := tokens.Token{
		Version: 0, Challenge: 0xdeadbeefcafef00d, UserID: e.SecureUserID, AuthenticatorID: 0,
		AuthenticatorType: tokens.AuthPassword, Timestamp: 123456789, MAC: rsp.Token.MAC,
	}
	assert.Equal(t, want, rsp.Token)
	_, err = d.verifier(t).WithChallenge(0xdeadbeefcafef00d).WithAuthenticatorTypes(tokens.AuthPassword).
		WithSecureIDs(e.SecureUserID).WithFreshness(123456789, time.Second).Verify(rsp.Token.Marshal())
	require.NoError(t, err)
	// Not MACed under any other key.
	other, err := tokens.NewMAC(tokens.HMACSHA256, make([]byte, 32))
	require.NoError(t, err)
	require.ErrorIs(t, other.Check(&rsp.Token), tokens.ErrBadMAC)
}

func TestHandleBoundToUser(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	a := enroll(t, ta, 1, []byte("alice"))
	b := enroll(t, ta, 2, []byte("bob"))

	// uid 2 presenting uid 1's handle and password: not uid 2's handle.
	rsp := verify(t, ta, 2, 0, a.Handle, []byte("alice"))
	assert.Equal(t, gkproto.ErrorGeneralFailure, rsp.Status)
	assert.Zero(t, record(t, ta, a.SecureUserID).FailureCounter, "not an attempt on either SID")
	assert.Zero(t, record(t, ta, b.SecureUserID).FailureCounter)

	// A forged handle (any byte changed) is not the enrolled one.
	for _, i := range []int{1, 9, 17, 25, 56, 57} {
		f := bytes.Clone(a.Handle)
		f[i] ^= 1
		rsp := verify(t, ta, 1, 0, f, []byte("alice"))
		assert.Equal(t, gkproto.ErrorGeneralFailure, rsp.Status, "byte %d", i)
	}
	// Malformed handles.
	for _, h := range [][]byte{a.Handle[:57], append(bytes.Clone(a.Handle), 0), make([]byte, gkproto.HandleSize)} {
		assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 1, 0, h, []byte("alice")).Status)
	}
	assert.Zero(t, record(t, ta, a.SecureUserID).FailureCounter)
	assert.Equal(t, gkproto.StatusOK, verify(t, ta, 1, 0, a.Handle, []byte("alice")).Status)
}

func TestPasswordSizeLimits(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	maxPw := bytes.Repeat([]byte{0}, gkproto.MaxPasswordSize) // all NUL: binary
	e := enroll(t, ta, 3, maxPw)
	assert.Equal(t, gkproto.StatusOK, verify(t, ta, 3, 0, e.Handle, maxPw).Status)

	tooLong := bytes.Repeat([]byte{'x'}, gkproto.MaxPasswordSize+1)
	rsp, err := ta.Enroll(ctx, 3, gkproto.EnrollPayload{DesiredPassword: tooLong})
	require.NoError(t, err)
	assert.Equal(t, gkproto.EnrollResponse{Status: gkproto.ErrorGeneralFailure}, rsp)
	rsp, err = ta.Enroll(ctx, 3, gkproto.EnrollPayload{CurrentHandle: e.Handle, CurrentPassword: tooLong, DesiredPassword: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, gkproto.ErrorGeneralFailure, rsp.Status)
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 3, 0, e.Handle, tooLong).Status)
	assert.Zero(t, record(t, ta, e.SecureUserID).FailureCounter, "size errors are not attempts")
	// The enrolled handle is untouched.
	assert.Equal(t, gkproto.StatusOK, verify(t, ta, 3, 0, e.Handle, maxPw).Status)
}

// TestThrottleSchedule drives the AOSP schedule through the TA with a fake
// boot clock: failures 1-4 free, the 5th and 10th 30 s, every attempt inside
// a window rejected with the remaining time and not counted.
func TestThrottleSchedule(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	pw, wrong := []byte("right"), []byte("wrong")
	e := enroll(t, ta, 0, pw)
	sid := e.SecureUserID

	for i := 1; i <= 4; i++ {
		d.Clock.Advance(time.Millisecond)
		rsp := verify(t, ta, 0, 0, e.Handle, wrong)
		assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorGeneralFailure}, rsp, "failure %d", i)
		assert.Equal(t, uint32(i), record(t, ta, sid).FailureCounter)
	}
	d.Clock.Advance(time.Millisecond)
	fifth := d.Clock.NowMs()
	rsp := verify(t, ta, 0, 0, e.Handle, wrong)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000}, rsp)
	assert.Equal(t, FailureRecord{SecureUserID: sid, LastCheckedTimestamp: fifth, FailureCounter: 5}, record(t, ta, sid))

	// Inside the window: rejected with the remaining time, even with the
	// right password, and not counted.
	d.Clock.Advance(10 * time.Second)
	rsp = verify(t, ta, 0, 0, e.Handle, pw)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 20000}, rsp)
	d.Clock.Advance(19999 * time.Millisecond)
	rsp = verify(t, ta, 0, 0, e.Handle, wrong)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 1}, rsp)
	// Enroll with the current handle is throttled the same way.
	ersp, err := ta.Enroll(ctx, 0, gkproto.EnrollPayload{CurrentHandle: e.Handle, CurrentPassword: pw, DesiredPassword: []byte("n")})
	require.NoError(t, err)
	assert.Equal(t, gkproto.EnrollResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 1}, ersp)
	assert.Equal(t, FailureRecord{SecureUserID: sid, LastCheckedTimestamp: fifth, FailureCounter: 5}, record(t, ta, sid))

	// Window over: 6..9 free again, the 10th is 30 s (the code, not the comment).
	d.Clock.Advance(time.Millisecond)
	for i := 6; i <= 9; i++ {
		assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 0, 0, e.Handle, wrong).Status, "failure %d", i)
	}
	rsp = verify(t, ta, 0, 0, e.Handle, wrong)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000}, rsp, "10th failure")
	d.Clock.Advance(30 * time.Second)
	rsp = verify(t, ta, 0, 0, e.Handle, wrong)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000}, rsp, "11th failure")
	assert.Equal(t, uint32(11), record(t, ta, sid).FailureCounter)

	// Success clears the record.
	d.Clock.Advance(30 * time.Second)
	rsp = verify(t, ta, 0, 0, e.Handle, pw)
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	assert.Equal(t, FailureRecord{SecureUserID: sid}, record(t, ta, sid))
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 0, 0, e.Handle, wrong).Status)
	assert.Equal(t, uint32(1), record(t, ta, sid).FailureCounter)
}

func TestThrottleDoublesFromThirty(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 0, []byte("pw"))
	sid := e.SecureUserID
	// Start from a stored counter of 39 (as if 39 failures happened).
	require.NoError(t, ta.Tx(ctx, func(tx *store.Tx) error {
		return putRecord(tx, FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1, FailureCounter: 39})
	}))
	d.Clock.Advance(time.Hour)
	want := map[int]uint32{40: 60000, 49: 60000, 50: 120000, 139: 30720000, 140: DayInMs, 141: DayInMs}
	for n := 40; n <= 141; n++ {
		rsp := verify(t, ta, 0, 0, e.Handle, []byte("no"))
		require.Equal(t, gkproto.ErrorRetryTimeout, rsp.Status, "failure %d", n)
		require.Equal(t, ComputeRetryTimeout(uint32(n)), rsp.RetryTimeoutMs, "failure %d", n)
		if w, ok := want[n]; ok {
			assert.Equal(t, w, rsp.RetryTimeoutMs, "failure %d", n)
		}
		d.Clock.Advance(time.Duration(rsp.RetryTimeoutMs) * time.Millisecond)
	}
}

// TestThrottleAfterReboot: the boot clock restarts below last_checked ⇒
// last_checked := now, persisted, and the full timeout is imposed again.
func TestThrottleAfterReboot(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 0, []byte("pw"))
	failVerifies(t, d, ta, 0, e.Handle, 5)
	require.NoError(t, ta.Close())

	d.Clock.Set(500) // rebooted: 0.5 s since boot
	ta = d.ready(t)
	rsp := verify(t, ta, 0, 0, e.Handle, []byte("pw"))
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000}, rsp)
	assert.Equal(t, FailureRecord{SecureUserID: e.SecureUserID, LastCheckedTimestamp: 500, FailureCounter: 5}, record(t, ta, e.SecureUserID))
	d.Clock.Advance(30 * time.Second)
	assert.Equal(t, gkproto.StatusOK, verify(t, ta, 0, 0, e.Handle, []byte("pw")).Status)
}

// TestFailureRecordSurvivesRestart: closing and reopening the TA on the same
// database keeps the counter and the window.
func TestFailureRecordSurvivesRestart(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 4, []byte("pw"))
	failVerifies(t, d, ta, 4, e.Handle, 5)
	before := record(t, ta, e.SecureUserID)
	require.Equal(t, uint32(5), before.FailureCounter)
	require.NoError(t, ta.Close())

	d.Clock.Advance(time.Second)
	ta = d.ready(t)
	assert.Equal(t, before, record(t, ta, e.SecureUserID))
	rsp := verify(t, ta, 4, 0, e.Handle, []byte("pw"))
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 29000}, rsp)
}

func TestReenroll(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	old := enroll(t, ta, 0, []byte("old"))

	t.Run("wrong current password is a counted attempt", func(t *testing.T) {
		rsp, err := ta.Enroll(ctx, 0, gkproto.EnrollPayload{CurrentHandle: old.Handle, CurrentPassword: []byte("nope"), DesiredPassword: []byte("new")})
		require.NoError(t, err)
		assert.Equal(t, gkproto.EnrollResponse{Status: gkproto.ErrorGeneralFailure}, rsp)
		assert.Equal(t, uint32(1), record(t, ta, old.SecureUserID).FailureCounter)
	})
	t.Run("trusted keeps the SID and clears the record", func(t *testing.T) {
		rsp, err := ta.Enroll(ctx, 0, gkproto.EnrollPayload{CurrentHandle: old.Handle, CurrentPassword: []byte("old"), DesiredPassword: []byte("new")})
		require.NoError(t, err)
		require.Equal(t, gkproto.StatusOK, rsp.Status)
		assert.Equal(t, old.SecureUserID, rsp.SecureUserID)
		assert.Zero(t, record(t, ta, old.SecureUserID).FailureCounter)
		assert.Equal(t, gkproto.StatusOK, verify(t, ta, 0, 0, rsp.Handle, []byte("new")).Status)
		assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 0, 0, old.Handle, []byte("old")).Status, "the replaced handle is no longer enrolled")
		old = rsp
	})
	t.Run("untrusted gets a new SID", func(t *testing.T) {
		rsp := enroll(t, ta, 0, []byte("newer"))
		assert.NotEqual(t, old.SecureUserID, rsp.SecureUserID)
		v := verify(t, ta, 0, 0, rsp.Handle, []byte("newer"))
		require.Equal(t, gkproto.StatusOK, v.Status)
		assert.Equal(t, rsp.SecureUserID, v.Token.UserID)
	})
}

func TestDeleteUsers(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	a := enroll(t, ta, 10001, []byte("a"))
	b := enroll(t, ta, 10002, []byte("b"))
	verify(t, ta, 10001, 0, a.Handle, []byte("x"))

	st, err := ta.DeleteUser(ctx, 10001)
	require.NoError(t, err)
	assert.Equal(t, gkproto.StatusOK, st)
	assert.Equal(t, FailureRecord{SecureUserID: a.SecureUserID}, record(t, ta, a.SecureUserID), "record removed with the user")
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 10001, 0, a.Handle, []byte("a")).Status)
	st, err = ta.DeleteUser(ctx, 10001)
	require.NoError(t, err)
	assert.Equal(t, gkproto.ErrorGeneralFailure, st)
	assert.Equal(t, gkproto.StatusOK, verify(t, ta, 10002, 0, b.Handle, []byte("b")).Status, "other users untouched")

	st, err = ta.DeleteAllUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, gkproto.StatusOK, st)
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(t, ta, 10002, 0, b.Handle, []byte("b")).Status)
	st, err = ta.DeleteAllUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, gkproto.StatusOK, st, "deleting nobody is fine")
}

// TestTamperedStoreIsRefused: a failure record edited outside the TA (the
// REE resetting its counter in the file) is detected by the store.
func TestTamperedStoreIsRefused(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 0, []byte("pw"))
	failVerifies(t, d, ta, 0, e.Handle, 5)
	require.NoError(t, ta.Close())
	eraseFailureRecords(t, d.config().DBPath)
	_, err := NewTA(d.config())
	require.Error(t, err, "an offline edit must not silently reset throttling")
}

// TestConcurrentAttemptsAreAllCounted: read-increment-write of the failure
// record is one transaction, so concurrent attempts never lose an update.
func TestConcurrentAttemptsAreAllCounted(t *testing.T) {
	d := newDevice(t)
	ta := d.ready(t)
	e := enroll(t, ta, 0, []byte("pw"))
	other := enroll(t, ta, 1, []byte("other"))
	const n = 4
	errs := make(chan error, 2*n)
	statuses := make(chan gkproto.Status, 2*n)
	for range n {
		go func() {
			rsp, err := ta.Verify(ctx, 0, 0, gkproto.VerifyPayload{Handle: e.Handle, Password: []byte("bad")})
			errs <- err
			statuses <- rsp.Status
		}()
		go func() {
			rsp, err := ta.Verify(ctx, 1, 0, gkproto.VerifyPayload{Handle: other.Handle, Password: []byte("other")})
			errs <- err
			statuses <- rsp.Status
		}()
	}
	var ok, failed int
	for range 2 * n {
		require.NoError(t, <-errs)
		switch <-statuses {
		case gkproto.StatusOK:
			ok++
		case gkproto.ErrorGeneralFailure:
			failed++
		}
	}
	assert.Equal(t, n, ok)
	assert.Equal(t, n, failed)
	assert.Equal(t, uint32(n), record(t, ta, e.SecureUserID).FailureCounter)
	assert.Zero(t, record(t, ta, other.SecureUserID).FailureCounter)
}
