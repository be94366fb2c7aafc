package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// The synthetic fingers of the demo (sim/finger seeds). The enrolled ones
// and the impostor were checked to match and to be rejected, respectively,
// with the touches the demo makes; the fingers are deterministic in their
// seed.
var (
	fingerSeeds  = []uint64{0xF1A6E5, 0x5EC0D, 0x7A1D}
	impostorSeed = uint64(0xBAD5EED)
)

// pin is the demo user's lock-screen PIN. It goes only to Gatekeeper; it
// is never printed or logged.
var pin = []byte("1234")

// state is what the steps learn and hand on.
type state struct {
	sid  uint64     // the PIN's secure user id (Gatekeeper)
	cred *drive.PIN // the enrolled PIN
	nf   nfactor    // the n-factor payments (nfactor.go)

	enrollChallenge uint64
	enrollHAT       []byte
	fingers         []*finger.Finger // enrolled, in order
	fids            []uint32
	authID          uint64 // the group's authenticator id
	reg             drive.Registration

	order       order // the payment of the main path
	lastCounter uint64
	staleScene  proof.Cert // the scene certificate a new finger invalidated
}

// order is one payment: the payment TA's challenge and the payload, the
// authentication for it and the payment TA's answer.
type order struct {
	challenge uint64
	payload   []byte
	auth      drive.Authenticated
	sign      signed
}

// scenario is the demo, in order. Each step depends on those before it.
var scenario = []struct {
	name string
	run  stepFunc
}{
	{"CA minted: server certificates, trust anchors", mintCA},
	{"boot TAs: keymaster, gatekeeper, fingerprint, payment", bootTAs},
	{"start the HAL (IBiometricsFingerprint@2.1 over gRPC)", startHAL},
	{"PIN enroll (Gatekeeper ENROLL)", pinEnroll},
	{"PIN verify (Gatekeeper VERIFY)", pinVerify},
	{"preEnroll: enroll challenge (HAL)", preEnroll},
	{"password HAT for the challenge (Gatekeeper)", passwordHAT},
	{"enroll finger 1 (HAL enroll, sensor samples)", enrollNth(0, false)},
	{"enroll finger 2, postEnroll, authenticator id", enrollNth(1, true)},
	{"payment app registers app key + scene key", registerPayment},
	{"BEGIN_PAYMENT: the payment TA issues the challenge", issueChallenge},
	{"authenticate(operation_id = challenge) (HAL)", authenticateOrder},
	{"HAT verified: fields + MAC (by Keymaster)", checkOrderHAT},
	{"bio result relayed before onAuthenticated (HAL)", relayBioResult},
	{"SIGN_PAYMENT(challenge, order) (payment TA)", signOrder},
	{"statement verified offline (certified key)", verifyOrder},
	{"Keystore: per-op SM2 key, FINISH with the HAT", keystorePath},
	// Through the payment server (server.go, serverpay.go).
	{"channel certificates: CSRs from the TA, CA issues", channelCerts},
	{"fpemu server process (SQLite ledger, loopback)", startServer},
	{"merchant order over HTTP (POST /v1/orders)", merchantOrder},
	{"gm-fs channel to the server; scene key registered", registerWithServer},
	{"server challenge; signed order summary shown", serverChallenge},
	{"fingerprint for the order (BEGIN_PAYMENT, HAL)", serverFingerprint},
	{"statement sealed in the TA; server verifies, books", serverBooks},
	{"ledger row (GET /v1/ledger)", ledgerRow},
	{"feedback verified by the TA; status request", feedbackShown},
	{"tampered amount refused (payload)", tamperedAmountRefused},
	{"counter rollback refused (counter)", counterRollbackRefused},
	{"replayed statement refused (payload: another order)", replayedStatementRefused},
	// n-factor payments, seed 003's example policy (nfactor.go).
	{"one-time-code seed enrolled over the channel", otpEnrolled},
	{"small order: 1 factor (fingerprint)", smallOneFactor},
	{"medium order: 2 factors (fingerprint + password)", mediumTwoFactors},
	{"large order, fingerprint only: refused (factors)", largeFingerprintOnlyRefused},
	{"large order: 3 factors (fingerprint + password + OTP)", largeThreeFactors},
	{"one-time code replayed: refused (otp-replay)", otpReplayRefused},
	// The failure paths (failures.go).
	{"impostor finger rejected", impostorRejected},
	{"enroll finger 3: authenticator id changes", enrollNewFinger},
	{"payment key invalidated: re-register error", paymentKeyInvalidated},
	{"re-register; the new finger pays, verified", reRegister},
	{"lockout after five failures (onError LOCKOUT)", lockout},
	{"stop server, HAL and TAs: no process or socket left", stopDevice},
}

func pinEnroll(r *runner, ctx context.Context, rec *record) error {
	p, err := drive.EnrollPIN(ctx, r.gk, uid, pin)
	if err != nil {
		return err
	}
	r.cred, r.sid = p, p.SID
	rec.Add("uid", uid)
	rec.Add("sid", Hex64(r.sid))
	rec.Add("handle_bytes", len(p.Handle))
	return nil
}

// gatekeeperHAT verifies the PIN with challenge and returns the PASSWORD
// HAT Gatekeeper mints for it, checked against the PIN's SID and the
// challenge.
func (r *runner) gatekeeperHAT(ctx context.Context, challenge uint64) (tokens.Token, error) {
	return r.cred.HAT(ctx, challenge)
}

func pinVerify(r *runner, ctx context.Context, rec *record) error {
	t, err := r.gatekeeperHAT(ctx, 0)
	if err != nil {
		return err
	}
	rec.Add("status", "OK")
	rec.Add("hat", "PASSWORD")
	rec.Add("user_id", Hex64(t.UserID))
	return nil
}

func preEnroll(r *runner, ctx context.Context, rec *record) error {
	c, err := r.hc.PreEnroll(ctx)
	if err != nil {
		return err
	}
	if c == 0 {
		return errors.New("preEnroll returned 0 (failure)")
	}
	r.enrollChallenge = c
	rec.Add("challenge", Hex64(c))
	return nil
}

func passwordHAT(r *runner, ctx context.Context, rec *record) error {
	t, err := r.gatekeeperHAT(ctx, r.enrollChallenge)
	if err != nil {
		return err
	}
	r.enrollHAT = t.Marshal()
	rec.Add("challenge", Hex64(t.Challenge))
	rec.Add("user_id", Hex64(t.UserID))
	rec.Add("type", "PASSWORD")
	rec.Add("timestamp_ms", t.Timestamp)
	return nil
}

// enrollNth enrolls fingerSeeds[i] with the password HAT of the enroll
// challenge (one challenge serves the whole enrollment session, as in
// Settings); last ends the session with postEnroll.
func enrollNth(i int, last bool) stepFunc {
	return func(r *runner, ctx context.Context, rec *record) error {
		f := finger.New(fingerSeeds[i])
		before, err := r.hc.GetAuthenticatorID(ctx)
		if err != nil {
			return err
		}
		res, err := r.enrollFinger(ctx, f, r.enrollHAT)
		if err != nil {
			return err
		}
		if err := checkProgress(res.Remaining); err != nil {
			return err
		}
		if slices.Contains(r.fids, res.FingerID) {
			return fmt.Errorf("finger id %d given twice", res.FingerID)
		}
		r.fingers = append(r.fingers, f)
		r.fids = append(r.fids, res.FingerID)
		rec.Add("finger_seed", fmt.Sprintf("%#x", f.Seed))
		rec.Add("touches", res.Touches)
		rec.Add("onAcquired", res.Acquired)
		rec.Add("onEnrollResult_remaining", res.Remaining)
		rec.Add("fid", res.FingerID)
		id, err := r.hc.GetAuthenticatorID(ctx)
		if err != nil {
			return err
		}
		if id == 0 || id == before {
			return fmt.Errorf("authenticator id %#x after enrolling (was %#x): must change on every enrollment", id, before)
		}
		r.authID = id
		if last {
			if st, err := r.hc.PostEnroll(ctx); err != nil || st != hidl.SysOK {
				return fmt.Errorf("postEnroll: %v %w", st, err)
			}
			rec.Add("postEnroll", "SYS_OK")
		}
		rec.Add("authenticator_id", Hex64(id))
		return r.sensorIdle(ctx)
	}
}

// checkProgress checks onEnrollResult's remaining counts: strictly
// decreasing to 0, starting from DefaultEnrollSamples−1 (docs/protocol.md
// §9.5).
func checkProgress(rem []uint32) error {
	n := fpproto.DefaultEnrollSamples
	if len(rem) != n {
		return fmt.Errorf("%d onEnrollResult callbacks %v, want %d", len(rem), rem, n)
	}
	for i, v := range rem {
		if v != uint32(n-1-i) {
			return fmt.Errorf("onEnrollResult remaining %v, want %d..0", rem, n-1)
		}
	}
	return nil
}

func registerPayment(r *runner, ctx context.Context, rec *record) error {
	reg, err := r.registerScene(ctx, nil, r.authID, r.fids)
	if err != nil {
		return err
	}
	r.reg = reg
	dev, err := proof.VerifyDeviceCert(reg.Device)
	if err != nil {
		return err
	}
	rec.Add("device_id", fmt.Sprintf("%x", dev.DeviceID[:]))
	rec.Add("app", sceneRef.AppID)
	rec.Add("scene", sceneRef.Scene)
	rec.Add("chain", "device→app→scene verified")
	rec.Add("bound_fingers", r.fids)
	rec.Add("bound_authenticator_id", Hex64(reg.SceneCert.AuthenticatorID))
	return nil
}

func issueChallenge(r *runner, ctx context.Context, rec *record) error {
	c, err := r.app().Begin(ctx)
	if err != nil {
		return err
	}
	r.order = order{challenge: c, payload: []byte("order 1001: 12.34 CNY to merchant 42")}
	rec.Add("challenge", Hex64(r.order.challenge))
	rec.Add("payload", string(r.order.payload))
	return nil
}

func authenticateOrder(r *runner, ctx context.Context, rec *record) error {
	a, err := r.authenticate(ctx, r.order.challenge, r.fingers[0], 1)
	if err != nil {
		return err
	}
	r.order.auth = a
	rec.Add("operation_id", Hex64(r.order.challenge))
	rec.Add("onAcquired", a.Acquired)
	rec.Add("rejections", a.Rejections)
	rec.Add("fid", a.Event.FingerID)
	rec.Add("token_bytes", len(a.Event.HAT))
	rec.Add("bio_relay", "HAL FETCH_OUTBOX → DELIVER before onAuthenticated, in this step's time")
	return r.sensorIdle(ctx)
}

func checkOrderHAT(r *runner, ctx context.Context, rec *record) error {
	t, err := checkHAT(r.order.auth.Event.HAT, r.order.challenge, r.sid, r.authID)
	if err != nil {
		return err
	}
	rec.Add("version", t.Version)
	rec.Add("challenge", Hex64(t.Challenge))
	rec.Add("user_id", Hex64(t.UserID))
	rec.Add("authenticator_id", Hex64(t.AuthenticatorID))
	rec.Add("type", "FINGERPRINT")
	rec.Add("timestamp_ms", t.Timestamp)
	if err := r.macCheckedInTEE(ctx, r.order.auth.Event.HAT); err != nil {
		return err
	}
	rec.Add("mac", "valid: Keymaster BEGIN on an AUTH_TIMEOUT key bound to the authenticator id accepted it, and refused it with one MAC bit flipped")
	return nil
}

// macCheckedInTEE has the TEE check the HAT's MAC — the REE never holds the
// auth-token key, so it cannot. A timeout-bound Keymaster key (USER_SECURE_ID
// = the authenticator id, USER_AUTH_TYPE = FINGERPRINT, AUTH_TIMEOUT) needs
// a valid, fresh, matching HAT at BEGIN (KeyMint rule, AOSP
// §2.1): BEGIN must succeed with the genuine token and fail with
// KEY_USER_NOT_AUTHENTICATED once one bit of its MAC is flipped.
func (r *runner) macCheckedInTEE(ctx context.Context, hat []byte) error {
	params := append(keystoreKeyParams(r.authID), kmproto.AuthTimeoutParam(60))
	key, err := kmproto.GenerateKey{Params: params}.Execute(ctx, r.km)
	if err != nil {
		return fmt.Errorf("generate timeout-bound key: %w", err)
	}
	op, err := kmproto.Begin{Blob: key.Blob, Purpose: kmproto.PurposeSign, HAT: hat}.Execute(ctx, r.km)
	if err != nil {
		return fmt.Errorf("keymaster refused the authenticate HAT: %w", err)
	}
	if err := (kmproto.Abort{Handle: op}).Execute(ctx, r.km); err != nil {
		return fmt.Errorf("abort the check operation: %w", err)
	}
	forged := bytes.Clone(hat)
	forged[len(forged)-1] ^= 1
	_, err = kmproto.Begin{Blob: key.Blob, Purpose: kmproto.PurposeSign, HAT: forged}.Execute(ctx, r.km)
	if !errors.Is(err, kmproto.ErrKeyUserNotAuthenticated) {
		return fmt.Errorf("keymaster accepted a HAT with a flipped MAC bit (err %v)", err)
	}
	return nil
}

// relayBioResult checks that the payment TA held the auth result of the
// order when onAuthenticated reached the app: the HAL drains the
// fingerprint TA's outbox (FETCH_OUTBOX) and DELIVERs the sealed envelope
// before it makes the callback, so the app's first SIGN_PAYMENT, made at
// once, must not be NOT_AUTHORIZED. The REE cannot open the envelope nor
// time the relay apart from the match (it is part of the authenticate
// step); what it can measure is how long the app waited for the relay
// after the callback — nothing but this step's own overhead before the
// call — and that is the step's time. The call itself is the next step.
func relayBioResult(r *runner, ctx context.Context, rec *record) error {
	t0 := time.Now()
	s, err := r.signAtCallback(ctx, r.order.challenge, r.order.payload)
	if err != nil {
		return err
	}
	r.order.sign = s
	rec.elapsed = max(s.start.Sub(t0), time.Nanosecond)
	rec.Add("transaction_id", Hex64(r.order.challenge))
	rec.Add("held_at_onAuthenticated", "yes: the first SIGN_PAYMENT was not NOT_AUTHORIZED")
	rec.Add("app_wait", "none")
	return nil
}

func signOrder(r *runner, ctx context.Context, rec *record) error {
	s := r.order.sign
	rec.elapsed = s.call
	if s.err != nil {
		return fmt.Errorf("SIGN_PAYMENT: %w", s.err)
	}
	sg, err := proof.ParseSigned(s.statement)
	if err != nil {
		return err
	}
	rec.Add("statement_bytes", len(sg.Body))
	rec.Add("signature_bytes", len(sg.Signature))
	// A second signature with the same auth result is refused: single use.
	_, err = r.app().Sign(ctx, r.order.challenge, r.order.payload)
	if !errors.Is(err, payproto.ErrNotAuthorized) {
		return fmt.Errorf("second SIGN_PAYMENT with the same auth result: %v, want NOT_AUTHORIZED", err)
	}
	rec.Add("second_sign", "NOT_AUTHORIZED (single use)")
	return nil
}

func verifyOrder(r *runner, ctx context.Context, rec *record) error {
	st, err := proof.VerifyPayment(r.order.sign.statement, r.reg.SceneCert, r.order.challenge, r.order.payload)
	if err != nil {
		return err
	}
	if st.FingerID != r.order.auth.Event.FingerID || st.GroupID != gid {
		return fmt.Errorf("statement names finger %d of group %d, want %d of %d", st.FingerID, st.GroupID, r.order.auth.Event.FingerID, gid)
	}
	r.lastCounter = st.Counter
	rec.Add("challenge", Hex64(st.Challenge))
	rec.Add("payload_sm3", "matches")
	rec.Add("fid", st.FingerID)
	rec.Add("counter", st.Counter)
	rec.Add("ta_version", st.TAVersion)
	rec.Add("sensor_version", fmt.Sprintf("%#x", st.SensorVersion))
	rec.Add("signature", "SM2-SM3 under the scene certificate")
	return nil
}

func keystorePath(r *runner, ctx context.Context, rec *record) error {
	key, err := kmproto.GenerateKey{Params: keystoreKeyParams(r.authID)}.Execute(ctx, r.km)
	if err != nil {
		return fmt.Errorf("GENERATE_KEY: %w", err)
	}
	ks, err := r.keystoreSign(ctx, key, r.fingers[1], 2, []byte("keystore: sign with a per-operation key"))
	if err != nil {
		return err
	}
	rec.Add("key", "SM2/SM3 USER_AUTH_TYPE=FINGERPRINT")
	rec.Add("user_secure_id", Hex64(r.authID))
	rec.Add("op_handle", Hex64(ks.op))
	rec.Add("fid", ks.auth.Event.FingerID)
	rec.Add("finish", "signed, verified")
	if err := r.finishRefused(ctx, key, ks.auth.Event.HAT, nil); err != nil {
		return fmt.Errorf("HAT of another operation: %w", err)
	}
	rec.Add("other_op_hat", "KEY_USER_NOT_AUTHENTICATED")
	return r.sensorIdle(ctx)
}
