package payserver

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/sqlite"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
)

// factorWorld is a Factors over a real SQLite store with the seed 003
// example policy, a real sealer and one registered device whose app has
// an enrolled SM3-OTP seed; the OTP clock is driven by the test.
type factorWorld struct {
	f      *Factors
	st     store.Store
	device proof.DeviceID
	seed   []byte
	params otp.Params
	now    time.Time
}

const factorApp = "com.example.wallet"

func newFactorWorld(t *testing.T) *factorWorld {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sealer := newSealer(t)
	w := &factorWorld{st: st, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	_, w.device = registerDevice(t, st)

	w.f = &Factors{Policy: seed003Policy(t), DefaultTier: "standard", Sealer: sealer, Now: func() time.Time { return w.now }}
	require.NoError(t, w.f.init(st, zap.NewNop()))
	w.params = w.f.OTPParams
	w.seed = enrollOTP(t, st, sealer, store.OTPRef{Device: w.device, App: factorApp}, w.params)
	return w
}

func (w *factorWorld) code(t *testing.T) string {
	c, err := w.params.CodeAt(w.seed, w.now)
	require.NoError(t, err)
	return c
}

// pay runs the decision and the factor check for an order of amount
// (CNY) by the world's device, as payment does after the statement
// verified.
func (w *factorWorld) pay(amount int64, password bool, extra wire.PayIntent2) (policy.Decision, policy.Set, error) {
	ctx := context.Background()
	o := store.Order{ID: "0123456789abcdef0123456789abcdef", NewOrder: store.NewOrder{Amount: amount, Currency: "CNY", Payee: "p"}}
	d, err := w.f.decide(ctx, w.device, o)
	if err != nil {
		return d, 0, err
	}
	st := proof.Statement{DeviceID: w.device, AppID: factorApp, Scene: "pay", FingerID: 1}
	if password {
		st.Flags = proof.FlagPassword
	}
	got, err := w.f.satisfy(ctx, w.device, o, st, extra, d.Required)
	return d, got, err
}

var (
	fp      = policy.NewSet(policy.Fingerprint)
	fpPw    = policy.NewSet(policy.Fingerprint, policy.Password)
	fpPwOTP = policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP)
	fpOTP   = policy.NewSet(policy.Fingerprint, policy.OTP)
)

// TestFactorTable: seed 003's example policy, tier standard, CNY —
// small (≤ 500.00) needs the fingerprint, medium (≤ 5 000.00) adds the
// password, large adds the one-time code — against every combination of
// the factors a payment can bring. Refusals are *policy.MissingError
// naming exactly the missing factors (rule "factors"); a refusal for
// missing factors spends no one-time code.
func TestFactorTable(t *testing.T) {
	const small, medium, large = 12_50, 1_200_00, 8_800_00
	for _, tc := range []struct {
		name      string
		amount    int64
		password  bool
		otp       bool
		required  policy.Set
		satisfied policy.Set
		missing   policy.Set
	}{
		{"small fingerprint", small, false, false, fp, fp, 0},
		{"small all three", small, true, true, fp, fpPwOTP, 0},
		{"medium fingerprint", medium, false, false, fpPw, 0, policy.NewSet(policy.Password)},
		{"medium fingerprint+otp", medium, false, true, fpPw, 0, policy.NewSet(policy.Password)},
		{"medium fingerprint+password", medium, true, false, fpPw, fpPw, 0},
		{"medium all three", medium, true, true, fpPw, fpPwOTP, 0},
		{"large fingerprint", large, false, false, fpPwOTP, 0, policy.NewSet(policy.Password, policy.OTP)},
		{"large fingerprint+password", large, true, false, fpPwOTP, 0, policy.NewSet(policy.OTP)},
		{"large fingerprint+otp", large, false, true, fpPwOTP, 0, policy.NewSet(policy.Password)},
		{"large all three", large, true, true, fpPwOTP, fpPwOTP, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFactorWorld(t)
			var extra wire.PayIntent2
			if tc.otp {
				extra.OTPCode = w.code(t)
			}
			d, got, err := w.pay(tc.amount, tc.password, extra)
			assert.Equal(t, tc.required, d.Required, "decision")
			assert.Equal(t, "standard", d.Tier)
			if tc.missing != 0 {
				var me *policy.MissingError
				require.ErrorAs(t, err, &me)
				assert.Equal(t, tc.missing, me.Missing)
				assert.Equal(t, wire.RuleFactors, verify.RuleOf(err))
				assert.Equal(t, "missing "+tc.missing.String(), detail(err))
				if tc.otp {
					// The code was not spent: it still pays a payment that has every factor.
					_, _, err := w.pay(large, true, extra)
					require.NoError(t, err, "a refusal for missing factors spends no one-time code")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.satisfied, got)
		})
	}
}

// TestFactorOTP: a one-time code is accepted once (a replay is rule
// otp-replay, also on a second Factors over the same store), a code of
// an earlier step after a later one is refused, a wrong code is rule
// otp, and with no seed or no sealer the factor cannot be satisfied.
func TestFactorOTP(t *testing.T) {
	const large = 8_800_00
	w := newFactorWorld(t)
	code := w.code(t)
	_, got, err := w.pay(large, true, wire.PayIntent2{OTPCode: code})
	require.NoError(t, err)
	assert.Equal(t, fpPwOTP, got)
	_, _, err = w.pay(large, true, wire.PayIntent2{OTPCode: code})
	require.ErrorIs(t, err, otp.ErrReplay)
	assert.Equal(t, wire.RuleOTPReplay, verify.RuleOf(err))

	// A second server on the same database refuses it too.
	other := &Factors{Policy: w.f.Policy, DefaultTier: "standard", Sealer: w.f.Sealer, Now: w.f.Now}
	require.NoError(t, other.init(w.st, zap.NewNop()))
	o := store.Order{ID: "0123456789abcdef0123456789abcdef", NewOrder: store.NewOrder{Amount: large, Currency: "CNY", Payee: "p"}}
	st := proof.Statement{DeviceID: w.device, AppID: factorApp, Scene: "pay", FingerID: 1, Flags: proof.FlagPassword}
	_, err = other.satisfy(context.Background(), w.device, o, st, wire.PayIntent2{OTPCode: code}, fpPwOTP)
	require.ErrorIs(t, err, otp.ErrReplay)

	// Two steps on: a fresh code passes, then the previous window's code is refused.
	prev := w.now.Add(w.params.Period)
	w.now = w.now.Add(2 * w.params.Period)
	_, _, err = w.pay(large, true, wire.PayIntent2{OTPCode: w.code(t)})
	require.NoError(t, err)
	old, err := w.params.CodeAt(w.seed, prev)
	require.NoError(t, err)
	_, _, err = w.pay(large, true, wire.PayIntent2{OTPCode: old})
	require.Error(t, err)
	assert.Contains(t, []wire.Rule{wire.RuleOTPReplay, wire.RuleOTP}, verify.RuleOf(err), "an older step after a newer one")

	// A wrong code.
	w.now = w.now.Add(3 * w.params.Period)
	good := w.code(t)
	bad := []byte(good)
	bad[0] = '0' + (bad[0]-'0'+1)%10
	_, _, err = w.pay(large, true, wire.PayIntent2{OTPCode: string(bad)})
	require.ErrorIs(t, err, otp.ErrMismatch)
	assert.Equal(t, wire.RuleOTP, verify.RuleOf(err))

	// Without a sealer no code can be checked.
	w.f.Sealer = nil
	_, _, err = w.pay(large, true, wire.PayIntent2{OTPCode: good})
	require.ErrorIs(t, err, ErrNoOTP)
	assert.Equal(t, wire.RuleOTP, verify.RuleOf(err))
}

// TestFactorShieldHook: a shield ref is unsatisfied without a
// ShieldConfirmer, and satisfies the factor when the hook confirms it.
func TestFactorShieldHook(t *testing.T) {
	const platinumLarge = 60_000_00 // platinum, CNY: fingerprint+password+otp+shield
	w := newFactorWorld(t)
	require.NoError(t, w.st.SetTier(context.Background(), w.device, "platinum"))
	all := policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP, policy.Shield)
	d, _, err := w.pay(platinumLarge, true, wire.PayIntent2{OTPCode: w.code(t), ShieldRef: []byte("ps-1")})
	assert.Equal(t, "platinum", d.Tier)
	assert.Equal(t, all, d.Required)
	var me *policy.MissingError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, policy.NewSet(policy.Shield), me.Missing, "no shield flows yet: never satisfied")

	w.f.Shield = confirmFunc(func(ref []byte) error {
		if string(ref) != "ps-1" {
			return errors.New("unknown pre-submit")
		}
		return nil
	})
	_, got, err := w.pay(platinumLarge, true, wire.PayIntent2{OTPCode: w.code(t), ShieldRef: []byte("ps-1")})
	require.NoError(t, err)
	assert.Equal(t, all, got)
	_, _, err = w.pay(platinumLarge, true, wire.PayIntent2{ShieldRef: []byte("ps-2")})
	require.ErrorAs(t, err, &me)
	assert.Equal(t, policy.NewSet(policy.OTP, policy.Shield), me.Missing)
}

// TestFactorDecision: the tier is the recorded one, else the default;
// a policy without a rule for the tier or currency is rule policy; a
// server without a policy asks for the fingerprint only; a default tier
// the policy does not name is refused at start.
func TestFactorDecision(t *testing.T) {
	w := newFactorWorld(t)
	ctx := context.Background()
	o := store.Order{NewOrder: store.NewOrder{Amount: 100, Currency: "USD"}}
	d, err := w.f.decide(ctx, w.device, o)
	require.NoError(t, err)
	assert.Equal(t, "standard", d.Tier)
	require.NoError(t, w.st.SetTier(ctx, w.device, "platinum"))
	_, err = w.f.decide(ctx, w.device, o)
	require.ErrorIs(t, err, policy.ErrUnknownCurrency, "platinum has no USD rule")
	assert.Equal(t, wire.RulePolicy, verify.RuleOf(err))

	none := &Factors{}
	require.NoError(t, none.init(w.st, zap.NewNop()))
	d, err = none.decide(ctx, w.device, o)
	require.NoError(t, err)
	assert.Equal(t, fp, d.Required)

	bad := &Factors{Policy: w.f.Policy, DefaultTier: "gold"}
	require.Error(t, bad.init(w.st, zap.NewNop()))
}

type confirmFunc func(ref []byte) error

func (f confirmFunc) Confirmed(_ context.Context, _ proof.DeviceID, _ store.Order, ref []byte) error {
	return f(ref)
}

// TestMerchantTier: GET /v1/devices/{id}/tier shows the default until a
// PUT records a tier the policy names; other names, unknown devices,
// malformed ids and bodies are refused.
func TestMerchantTier(t *testing.T) {
	s, _ := newTestServer(t)
	w := newFactorWorld(t)
	s.cfg.Store, s.cfg.Factors = w.st, *w.f
	h := s.MerchantHandler()
	id := hex.EncodeToString(w.device[:])
	path := "/v1/devices/" + id + "/tier"

	rr, v := do(t, h, "GET", path, "", "", "")
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
	assert.Equal(t, "standard", v["tier"])
	assert.Equal(t, false, v["recorded"])

	rr, v = do(t, h, "PUT", path, "application/json", "", `{"tier":"platinum"}`)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
	assert.Equal(t, true, v["recorded"])
	rr, v = do(t, h, "GET", path, "", "", "")
	require.Equal(t, http.StatusOK, rr.Code)
	assert.Equal(t, "platinum", v["tier"])
	d, err := w.f.decide(context.Background(), w.device, store.Order{NewOrder: store.NewOrder{Amount: 100, Currency: "CNY"}})
	require.NoError(t, err)
	assert.Equal(t, "platinum", d.Tier, "the recorded tier decides")

	for _, c := range []struct {
		path, ctype, body string
		code              int
	}{
		{path, "application/json", `{"tier":"gold"}`, http.StatusBadRequest},
		{path, "application/json", `{"tier":"standard","x":1}`, http.StatusBadRequest},
		{path, "text/plain", `{"tier":"standard"}`, http.StatusUnsupportedMediaType},
		{"/v1/devices/" + strings.Repeat("ab", 16) + "/tier", "application/json", `{"tier":"standard"}`, http.StatusNotFound},
		{"/v1/devices/XYZ/tier", "application/json", `{"tier":"standard"}`, http.StatusNotFound},
	} {
		rr, _ := do(t, h, "PUT", c.path, c.ctype, "", c.body)
		assert.Equal(t, c.code, rr.Code, "%s %s: %s", c.path, c.body, rr.Body.String())
	}
}
