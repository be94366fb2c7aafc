package hal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/hal/hidl"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// orderPayments is how many payments TestPaymentTAHoldsReportAtCallback
// makes. Before the HAL relayed ahead of the callback, the first
// SIGN_PAYMENT after onAuthenticated was refused in most payments (2.4
// calls per payment on average, docs/benchmarks.md), so a HAL that relays
// late fails this test with near certainty.
const orderPayments = 12

// TestPaymentTAHoldsReportAtCallback: across real processes (Keymaster,
// Gatekeeper, fingerprint and payment TAs, the HAL), the payment TA already
// holds what the fingerprint TA reported when the app hears of it, as with
// QSEE's bio_set_auth_result, which runs inside the TEE before the token
// of a match leaves it:
//
//   - after onEnrollResult(remaining 0), the first CREATE_SCENE_KEY binds
//     the new finger set (the finger list arrived first);
//   - after each onAuthenticated, the first SIGN_PAYMENT for its
//     operation id signs, with no retry (the auth result arrived first);
//   - after onRemoved(remaining 0), the scene key is already invalidated
//     and no new one can be made for the empty group.
func TestPaymentTAHoldsReportAtCallback(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{}, tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment)
	ctx := testCtx(t)
	c := dev.client
	gk := dev.session(t, tee.RoleGatekeeper)
	pay := dev.session(t, tee.RolePayment, rpc.AsUser())
	sen, err := dev.d.OpenSensor(ctx)
	require.NoError(t, err)
	defer sen.Close()

	password := []byte("2468")
	gkr, err := gkproto.Enroll{UID: 0, DesiredPassword: password}.Execute(ctx, gk)
	require.NoError(t, err)
	require.Equal(t, hidl.SysOK, must(c.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)

	// Enrollment: the finger list reaches the payment TA before the last
	// onEnrollResult.
	f := finger.New(0x0DE7)
	enrolled, _ := dev.enrollFinger(t, cbs, gk, sen, gkr.Handle, password, f)
	fid := enrolled.FingerID

	ref := payproto.KeyRef{AppID: "com.example.order", Scene: "pay"}
	devCert, err := payproto.GetDeviceCert{}.Execute(ctx, pay)
	require.NoError(t, err)
	appCert, err := payproto.CreateAppKey{AppID: ref.AppID}.Execute(ctx, pay)
	require.NoError(t, err)
	sceneCert, err := payproto.CreateSceneKey{Ref: ref, GroupID: gid}.Execute(ctx, pay)
	require.NoError(t, err, "the first CREATE_SCENE_KEY after onEnrollResult(remaining 0)")
	_, _, scene, err := proof.VerifyChain(devCert, appCert, sceneCert)
	require.NoError(t, err)
	authID := must(c.GetAuthenticatorID(ctx))(t)
	require.Equal(t, authID, scene.AuthenticatorID, "the scene key is bound to the new finger set")
	require.Equal(t, proof.FingerBinding(gid, authID, []uint32{fid}), scene.FingerBinding)

	// Payments: one SIGN_PAYMENT per onAuthenticated, never refused.
	for i := range orderPayments {
		op, err := payproto.BeginPayment{Ref: ref}.Execute(ctx, pay)
		require.NoError(t, err)
		require.NoError(t, sen.Touch(ctx, f, finger.Nominal))
		for j := range 4 {
			require.NoError(t, sen.ProbeTouch(ctx, f, uint64(i*8+j))) // fallbacks should a touch be rejected
		}
		require.Equal(t, hidl.SysOK, must(c.Authenticate(ctx, op, gid))(t))
		last, seen, err := cbs.WaitFor(within(t, 20*time.Second), hidl.Ends)
		require.NoError(t, err)
		require.IsType(t, hidl.OnAuthenticated{}, last, "payment %d: %v after %v", i, last, seen)
		order := []byte(fmt.Sprintf("order %d", i))
		st, err := payproto.SignPayment{Ref: ref, Challenge: op, Payload: order}.Execute(ctx, pay)
		require.NoError(t, err, "payment %d: the first SIGN_PAYMENT after onAuthenticated", i)
		_, err = proof.VerifyPayment(st, scene, op, order)
		require.NoError(t, err, "payment %d", i)
		require.NoError(t, sen.Reset(ctx))
	}

	// Removal: the (empty) finger list reaches the payment TA before the
	// last onRemoved.
	require.Equal(t, hidl.SysOK, must(c.Remove(ctx, gid, 0))(t))
	last, seen, err := cbs.WaitFor(within(t, 5*time.Second), hidl.Ends)
	require.NoError(t, err)
	require.Equal(t, hidl.OnRemoved{DeviceID: cbs.DeviceID, FingerID: fid, GroupID: gid}, last, "after %v", seen)
	_, err = payproto.BeginPayment{Ref: ref}.Execute(ctx, pay)
	assert.ErrorIs(t, err, payproto.ErrKeyInvalidated, "the first BEGIN_PAYMENT after onRemoved(remaining 0)")
	_, err = payproto.CreateSceneKey{Ref: ref, GroupID: gid}.Execute(ctx, pay)
	assert.ErrorIs(t, err, payproto.ErrNoFingers, "the first CREATE_SCENE_KEY after onRemoved(remaining 0)")
	assert.Zero(t, count(dev.logs.String(), "hal", "refused"), "no envelope refused")
}
