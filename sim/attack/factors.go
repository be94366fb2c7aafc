package attack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/serverproc"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
)

// The n-factor rows (issue 12; docs/protocol.md §16.4): the server bench
// (srvbench.go) with the example policy of seed 003 (policy.Seed003Example:
// tier standard, CNY — a fingerprint up to 500.00, also the device
// password up to 5 000.00, also a one-time code above) and an OTP sealing
// key; the device is of the default tier and has an OTP seed enrolled
// over its channel. The attacker is the payment app: it chooses which
// factors to present, can edit anything outside the TA and keeps every
// one-time code the user typed.

func init() {
	suite = append(suite, factorStrip, factorOTPReplay, factorOTPStale)
}

// factorLarge is a large order's amount (8 800.00 CNY): fingerprint,
// password and one-time code under the example policy.
const factorLarge = 8_800_00

// threeFactors is what the example policy asks of a large CNY payment.
var threeFactors = policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP)

// factorBench is the server bench with the n-factor policy, the OTP seed
// the server enrolled for the app, and a channel to the server.
type factorBench struct {
	*srvBench
	ch  *drive.Channel
	otp drive.OTP
}

// factorSetup writes the example policy and a fresh OTP sealing key (mode
// 0600) into the row's directory, boots the server bench with them and
// enrols the app's OTP seed.
func (r *runner) factorSetup(ctx context.Context, t *tally) *factorBench {
	pol := filepath.Join(r.dir, "policy.txt")
	if !t.must("policy file", os.WriteFile(pol, policy.Seed003Example, 0o644)) {
		return nil
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(r.dir, "otp-seal.key")
	err := os.WriteFile(keyFile, fmt.Appendf(nil, "%x\n", key), 0o600)
	clear(key)
	if !t.must("OTP sealing key file", err) {
		return nil
	}
	b := r.serverBenchArgs(ctx, t, "--policy", pol, "--otp-key", keyFile)
	if b == nil {
		return nil
	}
	ch, err := b.dial(ctx, b.srv)
	if !t.must("channel", err) {
		return nil
	}
	o, err := ch.EnrollOTP(ctx, sceneRef)
	if !t.must("enrol the OTP seed", err) {
		return nil
	}
	return &factorBench{srvBench: b, ch: ch, otp: o}
}

// code is the one-time code of the step of at.
func (f *factorBench) code(t *tally, at time.Time) (string, bool) {
	c, err := f.otp.Code(at)
	return c, t.must("one-time code", err)
}

// large creates a large order on srv.
func (f *factorBench) large(ctx context.Context, t *tally, srv *serverproc.Proc, key string) (string, bool) {
	id, err := f.order(ctx, srv, key, "laptops-1", factorLarge, "laptop "+key)
	return id, t.must("large order "+key, err)
}

// challenge asks for the order's challenge over ch; a summary that asks
// for fewer factors than the policy's three is a breach (the server
// would let the user confirm a weaker payment).
func (f *factorBench) challenge(ctx context.Context, t *tally, ch *drive.Channel, id string) (wire.Summary, bool) {
	_, sum, err := ch.ServerChallenge(ctx, id)
	if !t.must("challenge", err) {
		return sum, false
	}
	if sum.Required != threeFactors {
		t.breachf("the large order's summary asks for %s, the policy %s", sum.Required, threeFactors)
	}
	return sum, true
}

// freshChallenge dials a new channel to f.srv and asks it for order id's
// challenge, for a probe the TA or the server refuses mid-payment (the
// channel is spent by it).
func (f *factorBench) freshChallenge(ctx context.Context, t *tally, id string) (*drive.Channel, wire.Summary, bool) {
	ch, err := f.dial(ctx, f.srv)
	if !t.must("channel", err) {
		return nil, wire.Summary{}, false
	}
	sum, ok := f.challenge(ctx, t, ch, id)
	return ch, sum, ok
}

// otpPayment is one large order of an OTP row: its idempotency key, the
// code it is paid with and what the row calls the payment.
type otpPayment struct{ key, code, what string }

// otpSpentThenAgain is both OTP rows: a large order paid on f.srv with
// fingerprint, password and control's code books (the control); then a
// second large order paid with probe's code must be refused with rule
// otp replay. It returns the second order's id and the refusal's name.
func (f *factorBench) otpSpentThenAgain(ctx context.Context, t *tally, control, probe otpPayment) (string, string, bool) {
	first, ok := f.large(ctx, t, f.srv, control.key)
	if !ok {
		return "", "", false
	}
	sf, err := f.pay(ctx, t, f.ch, first, true, control.code)
	if !mustBookAll(t, "control: "+control.what, sf, err) {
		return "", "", false
	}
	second, ok := f.large(ctx, t, f.srv, probe.key)
	if !ok {
		return "", "", false
	}
	sf, err = f.pay(ctx, t, f.ch, second, true, probe.code)
	return second, refusedRule(t, probe.what, sf.Feedback, err, wire.RuleOTPReplay), true
}

// pay is one payment of order id over ch: a challenge, a fingerprint
// match for a fresh TA challenge, Gatekeeper's PASSWORD HAT for it when
// password, the code when not "" (drive.PayOrderWithFactors).
func (f *factorBench) pay(ctx context.Context, t *tally, ch *drive.Channel, id string, password bool, code string) (wire.SignedFeedback, error) {
	sum, ok := f.challenge(ctx, t, ch, id)
	if !ok {
		return wire.SignedFeedback{}, errors.New("no challenge")
	}
	op, err := f.touch(ctx)
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	var fs drive.Factors
	if password {
		if fs.PasswordHAT, err = f.pin.hat(ctx, op); err != nil {
			return wire.SignedFeedback{}, fmt.Errorf("gatekeeper VERIFY: %w", err)
		}
	}
	fs.OTPCode = code
	return ch.PayOrderWithFactors(ctx, sceneRef, op, sum, reqID(), fs)
}

// mustBookAll is a control: the payment booked with every required factor
// satisfied.
func mustBookAll(t *tally, what string, sf wire.SignedFeedback, err error) bool {
	if !mustBook(t, what, sf.Feedback, err) {
		return false
	}
	if sf.Decision.Required != threeFactors || sf.Decision.Missing() != 0 {
		t.brokef("%s: decision required %s, satisfied %s", what, sf.Decision.Required, sf.Decision.Satisfied)
		return false
	}
	return true
}

// noRows checks the ledger of srv has no row of the orders.
func (f *factorBench) noRows(ctx context.Context, t *tally, srv *serverproc.Proc, ids ...string) {
	led, err := f.ledger(ctx, srv)
	if !t.must("ledger", err) {
		return
	}
	for _, id := range ids {
		if n := rowsOf(led, id); n != 0 {
			t.breachf("refused order %s has %d ledger rows", id, n)
		}
	}
}

// sendForged sends a PayIntent2 with code and the statement bytes st
// (sealed by the TA's channel as they are, CHANNEL_SEAL) and reads the
// answer: what an app that edited a statement does.
func sendForged(ctx context.Context, ch *drive.Channel, sum wire.Summary, code string, st []byte) (wire.SignedFeedback, error) {
	intent, err := wire.PayIntent2{PayIntent: wire.PayIntent{RequestID: reqID(), OrderID: sum.OrderID, Challenge: sum.Challenge}, OTPCode: code}.Marshal()
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	if err := ch.Send(ctx, intent); err != nil {
		return wire.SignedFeedback{}, err
	}
	if err := ch.Send(ctx, st); err != nil {
		return wire.SignedFeedback{}, err
	}
	ans, err := ch.Receive(ctx)
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	if typ, _ := wire.PeekType(ans); typ == wire.TypeResult {
		r, err := wire.ParseResult(ans)
		if err != nil {
			return wire.SignedFeedback{}, err
		}
		return wire.SignedFeedback{}, &drive.ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	return wire.ParseSignedFeedback(ans)
}

// withPasswordFlag re-encodes a signed statement with proof.FlagPassword
// set in its body, the TA's signature kept.
func withPasswordFlag(st []byte) ([]byte, error) {
	s, err := proof.ParseSigned(st)
	if err != nil {
		return nil, err
	}
	body, err := proof.ParseStatement(s.Body)
	if err != nil {
		return nil, err
	}
	body.Flags |= proof.FlagPassword
	if s.Body, err = body.Marshal(); err != nil {
		return nil, err
	}
	return s.Marshal()
}

var factorStrip = attack{
	Info: Info{
		ID:      "factor-strip",
		Attack:  "pay a large order (three factors by policy) with fewer: only the fingerprint; the password flag set by the REE in the signed statement, and PASSWORD HATs for another challenge or with a flipped MAC; fingerprint and password with the one-time code omitted",
		Defence: "the server decides the factors from its policy, the device's recorded tier and the order, never from the device (§16.4) → factors; the password factor is only the TA-signed FlagPassword → signature; the payment TA checks the PASSWORD HAT's MAC, type and challenge (§8.7) → not authorised",
		Want:    Rejected,
	},
	// Canary: a server child that runs without its policy (TestFactorCanaries,
	// weakening "no-policy") books the fingerprint-only payment. The TA's
	// HAT checks have none here (bio/payment's tests weaken them).
	run: given((*runner).factorSetup, func(ctx context.Context, r *runner, f *factorBench, t *tally) {
		id, ok := f.large(ctx, t, f.srv, "strip")
		if !ok {
			return
		}
		// 1. The fingerprint alone.
		sf, err := f.pay(ctx, t, f.ch, id, false, "")
		fp := refusedRule(t, "fingerprint only", sf.Feedback, err, wire.RuleFactors)
		if err == nil && sf.Feedback.Rule == wire.RuleFactors && sf.Decision.Missing() != policy.NewSet(policy.Password, policy.OTP) {
			t.brokef("fingerprint only: decision says %s missing, want password+otp", sf.Decision.Missing())
		}
		// 2. The password flag forged by the REE: a statement the TA
		// signed without a password (SIGN_PAYMENT), the flag set
		// afterwards; the code of the previous step so that only the
		// password is missing (a refused statement spends no code).
		prev, ok := f.code(t, time.Now().Add(-f.otp.Params.Period))
		if !ok {
			return
		}
		ch, sum, ok := f.freshChallenge(ctx, t, id)
		if !ok {
			return
		}
		st, err := f.statement(ctx, sum)
		if !t.must("statement without a password", err) {
			return
		}
		forged, err := withPasswordFlag(st)
		if !t.must("set the password flag", err) {
			return
		}
		sf, err = sendForged(ctx, ch, sum, prev, forged)
		flag := refusedRule(t, "password flag set in the REE, TA signature kept", sf.Feedback, err, wire.RuleSignature)
		// 3. PASSWORD HATs the payment TA must not take: one Gatekeeper
		// minted for another challenge, and the right one with a bit of
		// its HMAC flipped. The TA refuses before the channel record is
		// sealed; each probe uses a fresh channel.
		op, err := f.touch(ctx)
		if !t.must("touch", err) {
			return
		}
		var tas string
		for _, p := range []struct {
			what string
			hat  func() ([]byte, error)
		}{
			{"PASSWORD HAT for another challenge", func() ([]byte, error) { return f.pin.hat(ctx, op^0x5a5a) }},
			{"PASSWORD HAT with a flipped MAC bit", func() ([]byte, error) {
				h, err := f.pin.hat(ctx, op)
				if err == nil {
					h[len(h)-1] ^= 1
				}
				return h, err
			}},
		} {
			hat, err := p.hat()
			if !t.must("gatekeeper VERIFY", err) {
				return
			}
			ch, sum, ok := f.freshChallenge(ctx, t, id)
			if !ok {
				return
			}
			_, err = ch.PayOrderWithFactors(ctx, sceneRef, op, sum, reqID(), drive.Factors{PasswordHAT: hat, OTPCode: prev})
			tas = t.refused(p.what, err, payproto.ErrNotAuthorized)
		}
		// 4. Fingerprint and password, the one-time code left out.
		ch, err = f.dial(ctx, f.srv)
		if !t.must("channel", err) {
			return
		}
		sf, err = f.pay(ctx, t, ch, id, true, "")
		refusedRule(t, "fingerprint and password, no one-time code", sf.Feedback, err, wire.RuleFactors)
		f.noRows(ctx, t, f.srv, id)
		// Control: all three factors, the current step's code.
		cur, ok := f.code(t, time.Now())
		if !ok {
			return
		}
		sf, err = f.pay(ctx, t, ch, id, true, cur)
		if !mustBookAll(t, "control: fingerprint, password and one-time code", sf, err) {
			return
		}
		t.summarize("fingerprint only → %s; forged password flag → %s; foreign or altered PASSWORD HAT → %s; no code → factors; all three booked", fp, flag, tas)
	}),
}

var factorOTPReplay = attack{
	Info: Info{
		ID:      "factor-otp-replay",
		Attack:  "pay a second large order with the one-time code the user typed for the first (fresh fingerprint and password), on the same server and on a second server process sharing the store",
		Defence: "an accepted code's step is recorded per (device, app) in the store, compare-and-set, and only a later step is accepted (RFC 6238 §5.2; GM/T 0021) → otp replay",
		Want:    Rejected,
	},
	// Canary: a server child whose store forgets the last accepted step
	// (TestFactorCanaries, weakening "otp-forget").
	run: given((*runner).factorSetup, func(ctx context.Context, r *runner, f *factorBench, t *tally) {
		code, ok := f.code(t, time.Now())
		if !ok {
			return
		}
		second, name, ok := f.otpSpentThenAgain(ctx, t,
			otpPayment{"first", code, "the first large order with its code"},
			otpPayment{"second", code, "the spent code for another order, same server"})
		if !ok {
			return
		}
		srv2, err := r.startServer(ctx, f.args...)
		if !t.must("second fpemu server on the same store", err) {
			return
		}
		ch2, err := f.dial(ctx, srv2)
		if !t.must("channel to server 2", err) {
			return
		}
		third, ok := f.large(ctx, t, srv2, "third")
		if !ok {
			return
		}
		sf, err := f.pay(ctx, t, ch2, third, true, code)
		refusedRule(t, "the spent code for another order, second server", sf.Feedback, err, wire.RuleOTPReplay)
		f.noRows(ctx, t, srv2, second, third)
		t.summarize("the accepted code again → %s on the same and on a second server; the first order booked", name)
	}),
}

// stepMargin is how much of the current OTP step must be left before the
// stale-code row computes its codes, so that "current" and "previous"
// are still the server's when they arrive.
const stepMargin = 15 * time.Second

var factorOTPStale = attack{
	Info: Info{
		ID:      "factor-otp-stale",
		Attack:  "after a code of the current step paid a large order, pay another with the code of the previous step (never used, still inside the verifier's ±1 step window)",
		Defence: "only a step above the last accepted one is accepted (the store's compare-and-set; payserver/otp.Verifier) → otp replay",
		Want:    Rejected,
	},
	// Canary: a server child whose store forgets the last accepted step
	// (TestFactorCanaries, weakening "otp-forget") books it.
	run: given((*runner).factorSetup, func(ctx context.Context, r *runner, f *factorBench, t *tally) {
		p := f.otp.Params
		if left := p.Period - time.Duration(time.Now().Unix()-p.Epoch)%p.Period*time.Second; left < stepMargin {
			select {
			case <-time.After(left + time.Second):
			case <-ctx.Done():
				t.must("wait for a fresh step", ctx.Err())
				return
			}
		}
		now := time.Now()
		cur, ok := f.code(t, now)
		if !ok {
			return
		}
		prev, ok := f.code(t, now.Add(-p.Period))
		if !ok {
			return
		}
		if prev == cur {
			t.brokef("the codes of two steps collide; run again")
			return
		}
		second, name, ok := f.otpSpentThenAgain(ctx, t,
			otpPayment{"current", cur, "the current step's code"},
			otpPayment{"previous", prev, "the previous step's code after the current one"})
		if !ok {
			return
		}
		f.noRows(ctx, t, f.srv, second)
		t.summarize("the previous step's code after the current one booked → %s", name)
	}),
}
