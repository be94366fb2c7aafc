package hal_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/hal/vts"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

const gid = vts.GroupID

func (dev *device) session(t *testing.T, role tee.Role, opts ...rpc.SessionOption) *simdev.Session {
	s, err := dev.d.OpenSession(testCtx(t), role, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func (dev *device) notify(t *testing.T) *halclient.Callbacks {
	cbs, err := dev.client.SetNotify(testCtx(t))
	require.NoError(t, err)
	t.Cleanup(cbs.Close)
	return cbs
}

// enrollFinger enrolls f through the HAL as the framework does: the HAL's
// preEnroll challenge, Gatekeeper's verify of password (enrolled with
// handle) for a password auth token on it, the sensor playing f's touches,
// then enroll(token) run to its end. It returns the final onEnrollResult
// and the callbacks before it.
func (dev *device) enrollFinger(t *testing.T, cbs *halclient.Callbacks, gk *simdev.Session, sen *simdev.Sensor,
	handle, password []byte, f *finger.Finger) (hidl.OnEnrollResult, []hidl.Callback) {
	t.Helper()
	ctx := testCtx(t)
	challenge := must(dev.client.PreEnroll(ctx))(t)
	require.NotZero(t, challenge)
	vr, err := gkproto.Verify{UID: 0, Challenge: challenge, Handle: handle, Password: password}.Execute(ctx, gk)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, vr.Status)
	require.NoError(t, sen.EnrollTouches(ctx, f, fpproto.DefaultEnrollSamples))
	require.Equal(t, hidl.SysOK, must(dev.client.Enroll(ctx, vr.Token.Marshal(), gid, 60))(t))
	last, seen, err := cbs.WaitFor(within(t, 20*time.Second), hidl.Ends)
	require.NoError(t, err)
	require.IsType(t, hidl.OnEnrollResult{}, last, "%v after %v", last, seen)
	return last.(hidl.OnEnrollResult), seen
}

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestHALRelaysAuthTokenKey: at start the HAL asks Keymaster for the key
// sealed to the fingerprint TA and relays it; the TA installs it (a second
// time: the launcher relayed once at boot), from a later envelope.
func TestHALRelaysAuthTokenKey(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	// Logs travel through the stderr pipes asynchronously.
	assert.Eventually(t, func() bool {
		logs := dev.logs.String()
		return count(logs, "fingerprint", "auth-token key installed") == 2 && // launcher at boot, then the HAL
			count(logs, "hal", "auth-token key relayed to the fingerprint TA") == 1 &&
			count(logs, "hal", "HAL ready") == 1
	}, 5*time.Second, 10*time.Millisecond, "%s", dev.logs)
}

// TestVTS runs the VTS 2.1 port through the Go client against the HAL
// process on a fresh device. GetAuthenticatorIdTest assumes an enrollment
// (fpemu reports 0 for an empty group, docs/protocol.md §9.7); it runs in
// TestEnrollAuthenticateRoundTrip, and here the empty-group answer is
// checked instead.
func TestVTS(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	env := vts.Env{StorePath: t.TempDir()}
	for _, tc := range vts.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Name == "GetAuthenticatorIdTest" {
				require.NoError(t, vts.SetUp(testCtx(t), dev.client, env))
				id, err := dev.client.GetAuthenticatorID(testCtx(t))
				require.NoError(t, err)
				assert.Zero(t, id, "nothing enrolled")
				return
			}
			require.NoError(t, vts.RunCase(testCtx(t), dev.client, env, tc))
		})
	}
}

// TestEnrollAuthenticateRoundTrip: the framework's flow across five
// processes. preEnroll's challenge goes to Gatekeeper with the password;
// its PASSWORD HAT enrolls a synthetic finger (samples pushed through the
// fingerprint TA's sensor-control endpoint); authenticating with
// operationId = a Keymaster operation handle yields onAuthenticated with a
// FINGERPRINT HAT carrying challenge = operationId, the enrollment's SID
// and the authenticator id, which finishes that operation on a key bound
// to the authenticator id.
func TestEnrollAuthenticateRoundTrip(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	ctx := testCtx(t)
	c := dev.client
	gk := dev.session(t, tee.RoleGatekeeper)
	km := dev.session(t, tee.RoleKeymaster)
	sen, err := dev.d.OpenSensor(ctx)
	require.NoError(t, err)
	defer sen.Close()

	password := []byte("1234")
	gkr, err := gkproto.Enroll{UID: 0, DesiredPassword: password}.Execute(ctx, gk)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, gkr.Status)
	sid := gkr.SecureUserID

	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)

	// Enroll.
	f := finger.New(0xF1)
	done, seen := dev.enrollFinger(t, cbs, gk, sen, gkr.Handle, password, f)
	require.NotZero(t, done.FingerID)
	assert.Equal(t, uint32(gid), done.GroupID)
	var remaining []uint32
	for _, cb := range seen {
		if p, ok := cb.(hidl.OnEnrollResult); ok {
			assert.Equal(t, done.FingerID, p.FingerID)
			remaining = append(remaining, p.Remaining)
		}
	}
	assert.Len(t, remaining, fpproto.DefaultEnrollSamples-1, "progress counts samples down")
	require.Equal(t, hidl.SysOK, must(c.PostEnroll(ctx))(t))

	authID := must(c.GetAuthenticatorID(ctx))(t)
	require.NotZero(t, authID)
	require.NoError(t, vts.RunCase(ctx, c, vts.Env{StorePath: t.TempDir()}, vts.Cases()[6]), "GetAuthenticatorIdTest with a template")
	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))

	// A per-operation key bound to the fingerprint set.
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveP256, tokens.AuthFingerprint, nil, authID)}.Execute(ctx, km)
	require.NoError(t, err)
	op, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
	require.NoError(t, err)

	// Authenticate with operationId = the operation handle.
	cbs = dev.notify(t)
	require.NoError(t, sen.Touch(ctx, f, finger.Nominal))
	for i := range 4 {
		require.NoError(t, sen.ProbeTouch(ctx, f, uint64(i))) // fallbacks should the nominal touch be rejected
	}
	require.Equal(t, hidl.SysOK, must(c.Authenticate(ctx, op, gid))(t))
	last, seen, err := cbs.WaitFor(within(t, 20*time.Second), hidl.Ends)
	require.NoError(t, err)
	require.IsType(t, hidl.OnAuthenticated{}, last, "%v after %v", last, seen)
	a := last.(hidl.OnAuthenticated)
	assert.Equal(t, done.FingerID, a.FingerID)
	assert.Equal(t, uint32(gid), a.GroupID)
	require.NoError(t, sen.Reset(ctx))

	tok, err := tokens.Parse(a.Token)
	require.NoError(t, err)
	assert.Equal(t, op, tok.Challenge, "challenge = operationId")
	assert.Equal(t, sid, tok.UserID, "the SID of the enroll HAT")
	assert.Equal(t, authID, tok.AuthenticatorID)
	assert.Equal(t, tokens.AuthFingerprint, tok.AuthenticatorType)

	// The HAT verifies: Keymaster (which holds the MAC key) finishes the
	// operation with it.
	msg := []byte("pay 10.00")
	sig, err := kmproto.Finish{Handle: op, Input: msg, HAT: a.Token}.Execute(ctx, km)
	require.NoError(t, err)
	require.NoError(t, kmproto.VerifySignature(kmproto.CurveP256, k.PublicKey, msg, sig))
	// And a tampered one does not.
	op2, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
	require.NoError(t, err)
	_, err = kmproto.Finish{Handle: op2, Input: msg, HAT: a.Token}.Execute(ctx, km)
	assert.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "the HAT is bound to the first operation")

	// Enumerate sees the finger; removing it empties the group.
	require.Equal(t, hidl.SysOK, must(c.Enumerate(ctx))(t))
	e, _, err := cbs.WaitFor(within(t, 5*time.Second), hidl.Ends)
	require.NoError(t, err)
	assert.Equal(t, hidl.OnEnumerate{DeviceID: cbs.DeviceID, FingerID: done.FingerID, GroupID: gid}, e)
	require.Equal(t, hidl.SysOK, must(c.Remove(ctx, gid, 0))(t))
	r, _, err := cbs.WaitFor(within(t, 5*time.Second), hidl.Ends)
	require.NoError(t, err)
	assert.Equal(t, hidl.OnRemoved{DeviceID: cbs.DeviceID, FingerID: done.FingerID, GroupID: gid}, r)
	assert.Zero(t, must(c.GetAuthenticatorID(ctx))(t))

	// No payment TA runs on this device: the HAL fetched nothing, so the
	// bio reports (finger lists and the auth result) wait in the TA's
	// outbox, oldest first, for a relay.
	fp := dev.session(t, tee.RoleFingerprint)
	envs, _, err := fpproto.FetchOutbox{}.Execute(ctx, fp)
	require.NoError(t, err)
	var types []envelope.MsgType
	for _, e := range envs {
		h, err := envelope.Parse(e)
		require.NoError(t, err)
		assert.Equal(t, tee.UUIDPayment, h.To)
		types = append(types, h.Type)
	}
	assert.Contains(t, types, envelope.MsgBioAuthResult)
	assert.Contains(t, types, envelope.MsgFingerList)
}

// must checks a (value, error) call: must(c.Cancel(ctx))(t)(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		require.NoError(t, err)
		return v
	}
}

// TestNewOperationCancelsRunning: authenticate while an enrollment waits for
// the finger cancels the enrollment (onError(CANCELED)) and starts.
func TestNewOperationCancelsRunning(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	ctx := testCtx(t)
	c := dev.client
	sen, err := dev.d.OpenSensor(ctx)
	require.NoError(t, err)
	defer sen.Close()
	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)
	require.Equal(t, hidl.SysOK, must(c.Authenticate(ctx, 1, gid))(t))
	require.NoError(t, sen.WaitForCapture(ctx, 1))
	require.Equal(t, hidl.SysOK, must(c.Enumerate(ctx))(t), "the HAL cancels the authentication first")
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, must(cbs.Next(ctx))(t))
	assert.Equal(t, hidl.OnEnumerate{DeviceID: cbs.DeviceID, GroupID: gid}, must(cbs.Next(ctx))(t))
}

// TestTADiesDuringAuthenticate: the fingerprint TA is killed while an
// authentication waits for a finger. The HAL reports
// onError(HW_UNAVAILABLE) at once and answers SYS_EIO while the TA is gone,
// without hanging.
func TestTADiesDuringAuthenticate(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	ctx := testCtx(t)
	c := dev.client
	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)
	require.Equal(t, hidl.SysOK, must(c.Authenticate(ctx, 7, gid))(t))
	pid, err := dev.d.PID(tee.RoleFingerprint)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	cb, err := cbs.Next(within(t, 5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorHWUnavailable}, cb)
	start := time.Now()
	assert.Equal(t, hidl.SysEIO, must(c.Authenticate(ctx, 7, gid))(t))
	assert.Equal(t, hidl.SysEIO, must(c.Cancel(ctx))(t))
	assert.Zero(t, must(c.PreEnroll(ctx))(t))
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestTARestartReconnects: the launcher restarts a killed fingerprint TA;
// the HAL's next call reconnects and relays the auth-token key again.
func TestTARestartReconnects(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{MaxRestarts: 1})
	ctx := testCtx(t)
	pid, err := dev.d.PID(tee.RoleFingerprint)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	for ev := range dev.d.Events() {
		if ev.Kind == simdev.EventRestarted {
			npid, err := dev.d.PID(tee.RoleFingerprint)
			require.NoError(t, err)
			dev.pids["restarted fingerprint"] = npid
			break
		}
		require.NotEqual(t, simdev.EventGaveUp, ev.Kind, "%v", ev)
	}
	cbs := dev.notify(t)
	// The first call may still see the old connection die; the HAL then
	// reconnects on the next one.
	st := must(dev.client.Cancel(ctx))(t)
	if st != hidl.SysOK {
		assert.Equal(t, hidl.SysEIO, st)
		st = must(dev.client.Cancel(ctx))(t)
	}
	require.Equal(t, hidl.SysOK, st)
	_, _, err = cbs.WaitFor(within(t, 5*time.Second), func(cb hidl.Callback) bool {
		e, ok := cb.(hidl.OnError)
		return ok && e.Error == hidl.ErrorCanceled
	})
	require.NoError(t, err)
	// Logs travel through the stderr pipes asynchronously.
	assert.Eventually(t, func() bool {
		return count(dev.logs.String(), "hal", "auth-token key relayed to the fingerprint TA") == 2
	}, 5*time.Second, 10*time.Millisecond)
	assert.Eventually(t, func() bool {
		return count(dev.logs.String(), "fingerprint", "auth-token key installed") == 4 // boot, HAL, restart, HAL again
	}, 5*time.Second, 10*time.Millisecond)
}

// TestHALKilled: a HAL killed by SIGKILL leaves its socket; Stop reports
// it, removes the socket, and the client fails instead of hanging.
func TestHALKilled(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	require.NoError(t, syscall.Kill(dev.hal.PID(), syscall.SIGKILL))
	<-dev.hal.Done()
	_, err := dev.client.Cancel(within(t, 5*time.Second))
	assert.Error(t, err)
	err = dev.hal.Stop(testCtx(t))
	assert.ErrorContains(t, err, "stopped uncleanly")
	assert.NoFileExists(t, dev.hal.SocketPath())
}

// TestHALStartFailures: without a fingerprint TA (or a Keymaster) the HAL
// exits before it is ready; StartHAL reports why and leaves no process.
func TestHALStartFailures(t *testing.T) {
	dir := shortDir(t)
	d, err := simdev.Boot(testCtx(t), simdev.Config{
		Dir:     dir,
		Roles:   []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper},
		Command: child.TACommand(dir),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	_, err = simdev.StartHAL(testCtx(t), d, child.HALCommand(dir))
	var se *simdev.StartError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.ErrorIs(t, err, simdev.ErrExitedBeforeReady)
	assert.Contains(t, se.Stderr, "connect to fingerprint TA")
	testkit.NotRunning(t, map[string]int{"HAL": se.PID})
}

// TestBioRelayToPaymentTA: with a payment TA on the device, the HAL drains
// the fingerprint TA's outbox as operations end and delivers the sealed
// reports to it (the finger list of the enrollment, the auth result of the
// match), leaving the outbox empty. TestPaymentTAHoldsReportAtCallback
// checks that they arrive before the callbacks.
func TestBioRelayToPaymentTA(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{}, tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment)
	ctx := testCtx(t)
	c := dev.client
	gk := dev.session(t, tee.RoleGatekeeper)
	sen, err := dev.d.OpenSensor(ctx)
	require.NoError(t, err)
	defer sen.Close()
	password := []byte("0000")
	gkr, err := gkproto.Enroll{UID: 0, DesiredPassword: password}.Execute(ctx, gk)
	require.NoError(t, err)

	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)
	f := finger.New(0xB10)
	dev.enrollFinger(t, cbs, gk, sen, gkr.Handle, password, f)
	require.Eventually(t, func() bool { return count(dev.logs.String(), "payment", "finger list delivered") >= 1 },
		10*time.Second, 10*time.Millisecond)

	require.NoError(t, sen.Touch(ctx, f, finger.Nominal))
	for i := range 4 {
		require.NoError(t, sen.ProbeTouch(ctx, f, uint64(i)))
	}
	// The payment app's challenge: the payment TA keeps an auth result
	// only for a challenge it issued.
	pay := dev.session(t, tee.RolePayment, rpc.AsUser())
	ref := payproto.KeyRef{AppID: "com.example.relay", Scene: "pay"}
	_, err = payproto.CreateAppKey{AppID: ref.AppID}.Execute(ctx, pay)
	require.NoError(t, err)
	_, err = payproto.CreateSceneKey{Ref: ref, GroupID: gid}.Execute(ctx, pay)
	require.NoError(t, err)
	op, err := payproto.BeginPayment{Ref: ref}.Execute(ctx, pay)
	require.NoError(t, err)
	require.Equal(t, hidl.SysOK, must(c.Authenticate(ctx, op, gid))(t))
	last, _, err := cbs.WaitFor(within(t, 20*time.Second), hidl.Ends)
	require.NoError(t, err)
	require.IsType(t, hidl.OnAuthenticated{}, last)
	require.NoError(t, sen.Reset(ctx))
	// The HAL relays the auth result before onAuthenticated (§10.5), so
	// the payment TA signs at once: the result reached it. (Its "auth
	// result held" line is debug since issue 14.)
	_, err = payproto.SignPayment{Ref: ref, Challenge: op, Payload: []byte("order 1")}.Execute(ctx, pay)
	require.NoError(t, err, "the match's auth result reached the payment TA")

	fp := dev.session(t, tee.RoleFingerprint)
	envs, _, err := fpproto.FetchOutbox{}.Execute(ctx, fp)
	require.NoError(t, err)
	assert.Empty(t, envs, "the HAL drained the outbox")
	assert.Zero(t, count(dev.logs.String(), "hal", "refused"), "no envelope refused")
}
