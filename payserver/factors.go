package payserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/wire"
)

// Factors configures n-factor payments (docs/protocol.md §16.4, seed
// 003). With a nil Policy every payment needs the fingerprint only (the
// statement) and summaries stay version 1.
//
// The decision is the server's, from its own records, never from what
// the device says: the customer tier is the one recorded for the device
// (Store.SetTier, the merchant API's PUT /v1/devices/{id}/tier), else
// DefaultTier; the amount and currency are the order's. The factors:
//
//   - fingerprint: the TEE-signed statement verified (every payment);
//   - password: the statement carries proof.FlagPassword (the payment TA
//     checked Gatekeeper's PASSWORD HAT for the payment's challenge);
//   - otp: PayIntent2's code verified against the seed of (device, the
//     statement's app) by otp.Verifier, accepted at most once;
//   - shield: PayIntent2's shield ref confirmed by Shield (nil: never).
type Factors struct {
	Policy *policy.Policy
	// DefaultTier is the tier of a device without a recorded one; it
	// must be a tier Policy names.
	DefaultTier string
	// Sealer seals the OTP seeds the server enrols (OTPEnroll); nil: no
	// seeds are enrolled and the otp factor is never satisfied.
	Sealer *otp.Sealer
	// OTPParams are the parameters of new seeds (zero: SM3-OTP defaults,
	// otp.DefaultParams(otp.SM3)).
	OTPParams otp.Params
	// OTPSkew is the verifier's window either side of now (0:
	// otp.DefaultSkew; negative: the current step only).
	OTPSkew int
	// Shield confirms a shield pre-submit reference (the shield flows of
	// docs/protocol.md §15); nil: the shield factor is never satisfied.
	Shield ShieldConfirmer
	// Now is the clock of one-time codes (default time.Now).
	Now func() time.Time

	verifier *otp.Verifier
	store    store.Store
	log      *zap.Logger
}

// ShieldConfirmer is the hook the shield flows fill (docs/protocol.md
// §15, §16.4): Confirmed returns nil when ref names a pre-submit of
// device for order that the shield card signed and the server verified
// (the transaction pre-submit → server nonce → card signature flow of
// seed 002), consuming it; any error leaves the factor unsatisfied.
type ShieldConfirmer interface {
	Confirmed(ctx context.Context, device proof.DeviceID, order store.Order, ref []byte) error
}

// Errors of the factor checks (typed; verify.RuleOf maps them).
var (
	// ErrNoOTP: the server enrols no one-time codes (no sealing key).
	ErrNoOTP = fmt.Errorf("%w: this server enrols no one-time codes", store.ErrOTPUnknown)
)

func (f *Factors) init(st store.Store, log *zap.Logger) error {
	f.store, f.log = st, log
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.OTPParams == (otp.Params{}) {
		f.OTPParams = otp.DefaultParams(otp.SM3)
	}
	if err := f.OTPParams.Validate(); err != nil {
		return fmt.Errorf("payserver: OTP parameters: %w", err)
	}
	skew := f.OTPSkew
	switch {
	case skew == 0:
		skew = otp.DefaultSkew
	case skew < 0:
		skew = 0
	case skew > otp.MaxSkew:
		return fmt.Errorf("payserver: OTP skew %d over %d", skew, otp.MaxSkew)
	}
	f.verifier = &otp.Verifier{Store: st, Skew: skew, Now: f.Now}
	if f.Policy != nil && !slices.Contains(f.Policy.Tiers(), f.DefaultTier) {
		return fmt.Errorf("payserver: default tier %q is not a tier of the policy (%v)", f.DefaultTier, f.Policy.Tiers())
	}
	return nil
}

// decide is the factor decision for an order paid by device.
func (f *Factors) decide(ctx context.Context, device proof.DeviceID, o store.Order) (policy.Decision, error) {
	if f.Policy == nil {
		return policy.Decision{Currency: o.Currency, Amount: o.Amount, Required: policy.NewSet(policy.Fingerprint)}, nil
	}
	tier, err := f.tier(ctx, device)
	if err != nil {
		return policy.Decision{}, err
	}
	return f.Policy.Decide(tier, o.Amount, o.Currency)
}

// tier is the device's recorded tier, else DefaultTier.
func (f *Factors) tier(ctx context.Context, device proof.DeviceID) (string, error) {
	t, err := f.store.Tier(ctx, device)
	if errors.Is(err, store.ErrTierUnset) {
		return f.DefaultTier, nil
	}
	return t, err
}

// satisfy returns the factors a verified statement st and its
// PayIntent2 extra satisfy, or the refusal: first the factors claimed
// against required — a payment that could not pass even with every
// claim true is refused before its one-time code is spent (a
// *policy.MissingError) — then the one-time code, if one came (a wrong
// or replayed code is refused even when the policy did not ask for one:
// a device that sends a code expects it checked).
func (f *Factors) satisfy(ctx context.Context, device proof.DeviceID, o store.Order, st proof.Statement, extra wire.PayIntent2, required policy.Set) (policy.Set, error) {
	have := policy.NewSet(policy.Fingerprint)
	if st.Flags.Has(proof.FlagPassword) {
		have |= policy.Set(policy.Password)
	}
	if extra.ShieldRef != nil && f.Shield != nil {
		if err := f.Shield.Confirmed(ctx, device, o, extra.ShieldRef); err == nil {
			have |= policy.Set(policy.Shield)
		} else {
			f.logger().Info("shield reference not confirmed", zap.String("order", o.ID), zap.Error(err))
		}
	}
	claimed := have
	if extra.OTPCode != "" {
		claimed |= policy.Set(policy.OTP)
	}
	if err := policy.Check(required, claimed); err != nil {
		return have, err
	}
	if extra.OTPCode != "" {
		if err := f.checkOTP(ctx, store.OTPRef{Device: device, App: st.AppID}, extra.OTPCode); err != nil {
			return have, err
		}
		have |= policy.Set(policy.OTP)
	}
	return have, policy.Check(required, have)
}

func (f *Factors) checkOTP(ctx context.Context, ref store.OTPRef, code string) error {
	if f.Sealer == nil {
		return ErrNoOTP
	}
	row, err := f.store.OTPSeed(ctx, ref)
	if err != nil {
		return err
	}
	p, err := otp.ParamsOf(row)
	if err != nil {
		return err
	}
	seed, err := f.Sealer.Open(ref, p, row.Sealed)
	if err != nil {
		return err
	}
	defer clear(seed)
	_, err = f.verifier.Verify(ctx, ref, p, seed, code)
	return err
}

func (f *Factors) logger() *zap.Logger {
	if f.log == nil {
		return zap.NewNop()
	}
	return f.log
}

// otpEnroll answers an OTPEnroll: a fresh seed for (peer, app), sealed
// into the store (replacing an older one; accepted steps stay spent),
// and sent to the device over the channel.
func (c *conn) otpEnroll(ctx context.Context, m wire.OTPEnroll) []byte {
	f := &c.s.cfg.Factors
	if f.Sealer == nil {
		return result(ErrNoOTP)
	}
	k, err := c.s.cfg.Store.Key(ctx, store.KeyRef{Device: c.peer, App: m.AppID, Scene: m.Scene})
	if err != nil {
		return result(err)
	}
	if k.Revoked {
		return result(store.ErrKeyRevoked)
	}
	ref := store.OTPRef{Device: c.peer, App: m.AppID}
	seed, err := otp.NewSeed()
	if err != nil {
		return result(err)
	}
	defer clear(seed)
	sealed, err := f.Sealer.Seal(ref, f.OTPParams, seed)
	if err != nil {
		return result(err)
	}
	if err := c.s.cfg.Store.PutOTPSeed(ctx, otp.Record(ref, f.OTPParams, sealed)); err != nil {
		c.log.Info("otp enrol refused", zap.Error(err))
		return result(err)
	}
	b, err := wire.OTPSeed{Algorithm: string(f.OTPParams.Algorithm), Digits: f.OTPParams.Digits,
		PeriodSeconds: int(f.OTPParams.Period / time.Second), Epoch: f.OTPParams.Epoch, Seed: seed}.Marshal()
	if err != nil {
		return result(err)
	}
	c.log.Info("otp seed enrolled", zap.String("app", m.AppID), zap.String("algorithm", string(f.OTPParams.Algorithm)))
	return b
}
