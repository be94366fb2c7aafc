package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
)

// The n-factor payments of seed 003 through the server (docs/protocol.md
// §16.4): the server runs with the example policy (policy.Seed003Example;
// tier standard, CNY: up to 500.00 a fingerprint, up to 5 000.00 also the
// device password, above also a one-time code) and an OTP sealing key;
// the device is of the default tier.

// The n-factor orders (minor units, CNY).
var (
	smallOrder  = orderRequest{Payee: "coffee-7", Amount: 88_00, Currency: "CNY", Summary: "beans, 1 kg"}
	mediumOrder = orderRequest{Payee: "bikes-3", Amount: 1_200_00, Currency: "CNY", Summary: "city bike"}
	largeOrder  = orderRequest{Payee: "laptops-1", Amount: 8_800_00, Currency: "CNY", Summary: "laptop"}
)

// nfactor is what the n-factor steps hand on.
type nfactor struct {
	otp        drive.OTP
	largeOrder string // the large order, refused with a fingerprint only, then paid
	lastCode   string // the code the large payment spent
}

// serverFactorArgs writes the policy and the OTP sealing key (mode 0600)
// into the server directory and returns the server's flags for them.
func serverFactorArgs(srvDir string) ([]string, error) {
	pol := filepath.Join(srvDir, "policy.txt")
	if err := os.WriteFile(pol, policy.Seed003Example, 0o644); err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(srvDir, "otp-seal.key")
	if err := os.WriteFile(keyFile, fmt.Appendf(nil, "%x\n", key), 0o600); err != nil {
		return nil, err
	}
	clear(key)
	return []string{"--policy", pol, "--otp-key", keyFile}, nil
}

func otpEnrolled(r *runner, ctx context.Context, rec *record) error {
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	o, err := ch.EnrollOTP(ctx, sceneRef)
	if err != nil {
		return err
	}
	r.nf.otp = o
	rec.Add("algorithm", string(o.Params.Algorithm))
	rec.Add("digits", o.Params.Digits)
	rec.Add("period", o.Params.Period.String())
	rec.Add("seed", fmt.Sprintf("%d bytes over the channel; sealed (SM4-GCM) in the server's store", len(o.Seed)))
	return nil
}

// factorPayment is one n-factor payment: a new order, the signed
// summary (version 2: tier and required factors, shown to the user), a
// fingerprint for a fresh TA challenge, then the factors chosen by
// password/code, and the signed feedback, whose signature is checked.
func (r *runner) factorPayment(ctx context.Context, key string, o orderRequest, wantRequired policy.Set, password bool, code string, noise uint64) (wire.Summary, wire.SignedFeedback, error) {
	ord, err := r.newOrder(ctx, key, o)
	if err != nil {
		return wire.Summary{}, wire.SignedFeedback{}, err
	}
	sf, sum, err := r.payFactors(ctx, ord.ID, key, wantRequired, password, code, noise)
	return sum, sf, err
}

func (r *runner) payFactors(ctx context.Context, orderID, reqID string, wantRequired policy.Set, password bool, code string, noise uint64) (wire.SignedFeedback, wire.Summary, error) {
	sum, err := r.challengeFor(ctx, orderID)
	if err != nil {
		return wire.SignedFeedback{}, sum, err
	}
	if sum.Required != wantRequired {
		return wire.SignedFeedback{}, sum, fmt.Errorf("summary asks for %s, want %s", sum.Required, wantRequired)
	}
	op, err := r.app().Begin(ctx)
	if err != nil {
		return wire.SignedFeedback{}, sum, err
	}
	if _, err := r.authenticate(ctx, op, r.fingers[0], noise); err != nil {
		return wire.SignedFeedback{}, sum, err
	}
	if err := r.sensorIdle(ctx); err != nil {
		return wire.SignedFeedback{}, sum, err
	}
	var f drive.Factors
	if password {
		hat, err := r.cred.HAT(ctx, op) // the user types the device password
		if err != nil {
			return wire.SignedFeedback{}, sum, err
		}
		f.PasswordHAT = hat.Marshal()
	}
	f.OTPCode = code
	ch, err := r.channel(ctx)
	if err != nil {
		return wire.SignedFeedback{}, sum, err
	}
	sf, err := ch.PayOrderWithFactors(ctx, sceneRef, op, sum, []byte(reqID+"-pay-"+fmt.Sprint(noise)), f)
	if err != nil {
		return sf, sum, err
	}
	if err := verify.FeedbackSignature(sf, r.srv.sign); err != nil {
		return sf, sum, err
	}
	return sf, sum, nil
}

// booked checks a SignedFeedback is a first booking with every required
// factor satisfied.
func bookedWith(sf wire.SignedFeedback, want policy.Set) error {
	fb := sf.Feedback
	if fb.Rule != wire.RuleOK || fb.Replayed || fb.EntryID <= 0 {
		return fmt.Errorf("feedback %s (%s), want booked", fb.Rule, fb.Detail)
	}
	if sf.Decision.Required != want || sf.Decision.Missing() != 0 {
		return fmt.Errorf("decision %+v, want %s required and satisfied", sf.Decision, want)
	}
	return nil
}

func recordFactors(rec *record, sum wire.Summary, sf wire.SignedFeedback) {
	rec.Add("order", money(sum.Amount, sum.Currency))
	rec.Add("tier", sum.Tier)
	rec.Add("shown_to_user", "factors "+sum.Required.String())
	rec.Add("satisfied", sf.Decision.Satisfied.String())
	rec.Add("rule", sf.Feedback.Rule.String())
	if sf.Feedback.EntryID > 0 {
		rec.Add("entry", sf.Feedback.EntryID)
	}
	rec.Add("feedback_signature", "SM2 by the server's signing certificate: verified")
}

var (
	oneFactor    = policy.NewSet(policy.Fingerprint)
	twoFactors   = policy.NewSet(policy.Fingerprint, policy.Password)
	threeFactors = policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP)
)

func smallOneFactor(r *runner, ctx context.Context, rec *record) error {
	sum, sf, err := r.factorPayment(ctx, "demo-nf-small", smallOrder, oneFactor, false, "", 20)
	if err != nil {
		return err
	}
	if err := bookedWith(sf, oneFactor); err != nil {
		return err
	}
	recordFactors(rec, sum, sf)
	return nil
}

func mediumTwoFactors(r *runner, ctx context.Context, rec *record) error {
	sum, sf, err := r.factorPayment(ctx, "demo-nf-medium", mediumOrder, twoFactors, true, "", 21)
	if err != nil {
		return err
	}
	if err := bookedWith(sf, twoFactors); err != nil {
		return err
	}
	recordFactors(rec, sum, sf)
	rec.Add("password", "Gatekeeper PASSWORD HAT for the TA's challenge, checked by the payment TA, flagged in the signed statement")
	return nil
}

func largeFingerprintOnlyRefused(r *runner, ctx context.Context, rec *record) error {
	ord, err := r.newOrder(ctx, "demo-nf-large", largeOrder)
	if err != nil {
		return err
	}
	r.nf.largeOrder = ord.ID
	sf, sum, err := r.payFactors(ctx, ord.ID, "demo-nf-large-fp", threeFactors, false, "", 22)
	if err != nil {
		return err
	}
	if sf.Feedback.Rule != wire.RuleFactors || sf.Feedback.EntryID != 0 {
		return fmt.Errorf("large payment with a fingerprint only: %s, want refused (factors)", sf.Feedback.Rule)
	}
	want := policy.NewSet(policy.Password, policy.OTP)
	if sf.Decision.Missing() != want || sf.Feedback.Detail != "missing "+want.String() {
		return fmt.Errorf("refusal names %s (%q), want %s missing", sf.Decision.Missing(), sf.Feedback.Detail, want)
	}
	recordFactors(rec, sum, sf)
	rec.Add("missing", sf.Decision.Missing().String())
	rec.Add("detail", sf.Feedback.Detail)
	rec.Add("booked", "nothing; the order stays open")
	return nil
}

func largeThreeFactors(r *runner, ctx context.Context, rec *record) error {
	code, err := r.nf.otp.Code(time.Now())
	if err != nil {
		return err
	}
	sf, sum, err := r.payFactors(ctx, r.nf.largeOrder, "demo-nf-large-3", threeFactors, true, code, 23)
	if err != nil {
		return err
	}
	if err := bookedWith(sf, threeFactors); err != nil {
		return err
	}
	r.nf.lastCode = code
	recordFactors(rec, sum, sf)
	rec.Add("otp", "GM/T 0021 SM3-OTP code accepted once (its step recorded)")
	return nil
}

func otpReplayRefused(r *runner, ctx context.Context, rec *record) error {
	ord, err := r.newOrder(ctx, "demo-nf-replay", largeOrder)
	if err != nil {
		return err
	}
	sf, _, err := r.payFactors(ctx, ord.ID, "demo-nf-replay", threeFactors, true, r.nf.lastCode, 24)
	var refused *drive.ServerRefused
	if errors.As(err, &refused) {
		return fmt.Errorf("server refused the request itself: %v", refused)
	}
	if err != nil {
		return err
	}
	if sf.Feedback.Rule != wire.RuleOTPReplay {
		return fmt.Errorf("the spent code again: %s, want refused (otp-replay)", sf.Feedback.Rule)
	}
	rec.Add("code", "the one the large payment spent")
	rec.Add("rule", sf.Feedback.Rule.String())
	rec.Add("booked", "nothing")
	return nil
}
