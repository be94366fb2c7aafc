package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// The failure paths of the scenario. The lockout comes last: a timed
// lockout lasts 30 s (LockoutFrameworkImpl FAIL_LOCKOUT_TIMEOUT_MS) and
// the HIDL 2.1 north API has no resetLockout, so anything after it would
// have to wait.

func impostorRejected(r *runner, ctx context.Context, rec *record) error {
	c, err := r.app().Begin(ctx)
	if err != nil {
		return err
	}
	res, err := r.impostorUntil(ctx, c, finger.New(impostorSeed), func(n int) bool { return n == 1 })
	if err != nil {
		return err
	}
	if res.end != (hidl.OnError{}) {
		return fmt.Errorf("authentication ended with %v after one rejection", res.end)
	}
	rec.Add("impostor_seed", fmt.Sprintf("%#x", impostorSeed))
	rec.Add("onAuthenticated", "fid=0, empty token")
	if err := drive.CancelOp(ctx, r.fp); err != nil {
		return err
	}
	rec.Add("cancel", "onError(ERROR_CANCELED)")
	return r.unpaid(ctx, rec, c, "order 1002", "a rejection")
}

func enrollNewFinger(r *runner, ctx context.Context, rec *record) error {
	c, err := r.hc.PreEnroll(ctx)
	if err != nil || c == 0 {
		return fmt.Errorf("preEnroll: %#x %w", c, err)
	}
	t, err := r.gatekeeperHAT(ctx, c)
	if err != nil {
		return err
	}
	before := r.authID
	f := finger.New(fingerSeeds[2])
	res, err := r.enrollFinger(ctx, f, t.Marshal())
	if err != nil {
		return err
	}
	if err := checkProgress(res.Remaining); err != nil {
		return err
	}
	if st, err := r.hc.PostEnroll(ctx); err != nil || st != hidl.SysOK {
		return fmt.Errorf("postEnroll: %v %w", st, err)
	}
	id, err := r.hc.GetAuthenticatorID(ctx)
	if err != nil {
		return err
	}
	if id == 0 || id == before {
		return fmt.Errorf("authenticator id %#x after a new enrollment (was %#x): must change", id, before)
	}
	r.fingers = append(r.fingers, f)
	r.fids = append(r.fids, res.FingerID)
	r.authID = id
	rec.Add("fid", res.FingerID)
	rec.Add("authenticator_id", fmt.Sprintf("%#016x → %#016x", before, id))
	return r.sensorIdle(ctx)
}

func paymentKeyInvalidated(r *runner, ctx context.Context, rec *record) error {
	// The HAL relayed the new finger list at onEnrollResult(remaining 0),
	// so the payment TA already knows the key is stale: it issues no
	// challenge for it.
	_, err := r.app().Begin(ctx)
	if err == nil {
		return errors.New("BEGIN_PAYMENT succeeded with a key bound to the old finger set")
	}
	if !errors.Is(err, payproto.ErrKeyInvalidated) {
		return fmt.Errorf("%w; want KEY_INVALIDATED", err)
	}
	rec.Add("sign_payment", fmt.Sprintf("KEY_INVALIDATED (%#x) at BEGIN_PAYMENT: re-register", uint32(payproto.ResultKeyInvalidated)))
	r.staleScene = r.reg.SceneCert
	return r.sensorIdle(ctx)
}

// reRegister creates the scene key again, bound to the three fingers, and
// pays with it (drive.App.Pay): the server's new challenge, the newly
// enrolled finger authenticates, SIGN_PAYMENT signs with the new key, the
// statement verifies under the new certificate and not under the
// invalidated one.
func reRegister(r *runner, ctx context.Context, rec *record) error {
	reg, err := r.registerScene(ctx, r.reg.App, r.authID, r.fids)
	if err != nil {
		return err
	}
	r.reg = reg
	rec.Add("bound_fingers", r.fids)
	rec.Add("bound_authenticator_id", Hex64(reg.SceneCert.AuthenticatorID))
	payload := []byte("order 1004: 5.00 CNY to merchant 42")
	paid, err := r.app().Pay(ctx, r.fp, r.sen, drive.Payment{Finger: r.fingers[2], GID: gid, Payload: payload, Auth: genuineTouches(4)})
	if err != nil {
		return fmt.Errorf("pay with the new scene key: %w", err)
	}
	st := paid.Statement
	if st.Counter <= r.lastCounter {
		return fmt.Errorf("counter %d not above the last one %d", st.Counter, r.lastCounter)
	}
	if st.FingerID != r.fids[2] {
		return fmt.Errorf("statement names finger %d, want the new finger %d", st.FingerID, r.fids[2])
	}
	r.lastCounter = st.Counter
	if _, err := proof.VerifyPayment(paid.Signed, r.staleScene, paid.Challenge, payload); err == nil {
		return errors.New("the statement verifies under the invalidated key's certificate")
	}
	rec.Add("challenge", Hex64(paid.Challenge))
	rec.Add("fid", st.FingerID)
	rec.Add("counter", st.Counter)
	rec.Add("verified", "new certificate yes, old no")
	return r.sensorIdle(ctx)
}

func lockout(r *runner, ctx context.Context, rec *record) error {
	c, err := r.app().Begin(ctx)
	if err != nil {
		return err
	}
	impostor := finger.New(impostorSeed)
	res, err := r.impostorUntil(ctx, c, impostor, func(int) bool { return false })
	if err != nil {
		return err
	}
	rec.Add("rejections", res.rejections)
	if res.end.Error != hidl.ErrorLockout || res.rejections != fpproto.LockoutTimedAttempts {
		return fmt.Errorf("%d rejections then %v, want %d then onError(ERROR_LOCKOUT)", res.rejections, res.end, fpproto.LockoutTimedAttempts)
	}
	rec.Add("then", "onError(ERROR_LOCKOUT)")
	// Locked out, even the enrolled finger is not read: a new
	// authentication ends at once with the same error.
	st, err := r.hc.Authenticate(ctx, newChallenge(), gid)
	if err != nil {
		return err
	}
	if st != hidl.SysOK {
		return fmt.Errorf("authenticate while locked out: %v, want SYS_OK then onError", st)
	}
	cb, err := r.cbs.Next(ctx)
	if err != nil {
		return err
	}
	if e, ok := cb.(hidl.OnError); !ok || e.Error != hidl.ErrorLockout {
		return fmt.Errorf("%w while locked out: %v, want onError(ERROR_LOCKOUT)", errUnexpected, cb)
	}
	rec.Add("next_authenticate", "onError(ERROR_LOCKOUT)")
	return r.unpaid(ctx, rec, c, "order 1005", "the lockout")
}

// unpaid checks that SIGN_PAYMENT of order for challenge c is refused
// NOT_AUTHORIZED after the failure named by after, records it, and waits
// for the sensor to be idle.
func (r *runner) unpaid(ctx context.Context, rec *record, c uint64, order, after string) error {
	_, err := r.app().Sign(ctx, c, []byte(order))
	if !errors.Is(err, payproto.ErrNotAuthorized) {
		return fmt.Errorf("SIGN_PAYMENT after %s: %v, want NOT_AUTHORIZED", after, err)
	}
	rec.Add("sign_payment", "NOT_AUTHORIZED")
	return r.sensorIdle(ctx)
}
