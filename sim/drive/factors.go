package drive

import (
	"context"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/wire"
)

// The payment app's side of n-factor payments (docs/protocol.md §16.4).

// Factors are what the app brings beyond the fingerprint: Gatekeeper's
// PASSWORD HAT for the TA's challenge (PIN.HAT; the TA checks it and says
// so in the statement), a one-time code (OTP.Code), and the id of a
// shield-confirmed pre-submit (the shield flows; the server refuses it as
// unsatisfied until they exist).
type Factors struct {
	PasswordHAT []byte
	OTPCode     string
	ShieldRef   []byte
}

// OTP is a one-time-code seed the server enrolled for this app: what an
// authenticator (or the app itself) holds to compute codes.
type OTP struct {
	Params otp.Params
	Seed   []byte
}

// Code is the code of the step of t.
func (o OTP) Code(t time.Time) (string, error) { return o.Params.CodeAt(o.Seed, t) }

// EnrollOTP asks the server for a one-time-code seed for the app of ref
// (wire.OTPEnroll; the scene key must be registered). A refusal is a
// *ServerRefused.
func (c *Channel) EnrollOTP(ctx context.Context, ref payproto.KeyRef) (OTP, error) {
	b, err := wire.OTPEnroll{AppID: ref.AppID, Scene: ref.Scene}.Marshal()
	if err != nil {
		return OTP{}, err
	}
	ans, err := c.Request(ctx, b)
	if err != nil {
		return OTP{}, err
	}
	if t, _ := wire.PeekType(ans); t == wire.TypeResult {
		r, err := wire.ParseResult(ans)
		if err != nil {
			return OTP{}, err
		}
		return OTP{}, &ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	m, err := wire.ParseOTPSeed(ans)
	if err != nil {
		return OTP{}, err
	}
	p := otp.Params{Algorithm: otp.Algorithm(m.Algorithm), Digits: m.Digits,
		Period: time.Duration(m.PeriodSeconds) * time.Second, Epoch: m.Epoch}
	if err := p.Validate(); err != nil {
		return OTP{}, fmt.Errorf("server's OTP parameters: %w", err)
	}
	return OTP{Params: p, Seed: m.Seed}, nil
}

// PayOrderWithFactors is PayOrder with the further factors: a PayIntent2
// (OTP code, shield ref), then CHANNEL_SEAL_PAYMENT carrying the password
// HAT when there is one; it returns the server's SignedFeedback (the
// caller checks its signature, verify.FeedbackSignature). A refusal is a
// SignedFeedback with its rule and the decision.
func (c *Channel) PayOrderWithFactors(ctx context.Context, ref payproto.KeyRef, taChallenge uint64, sum wire.Summary, requestID []byte, f Factors) (wire.SignedFeedback, error) {
	payload, err := wire.Binding(sum)
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	b, err := wire.PayIntent2{PayIntent: wire.PayIntent{RequestID: requestID, OrderID: sum.OrderID, Challenge: sum.Challenge},
		OTPCode: f.OTPCode, ShieldRef: f.ShieldRef}.Marshal()
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	if err := c.Send(ctx, b); err != nil {
		return wire.SignedFeedback{}, err
	}
	rec, err := payproto.SealPayment{Handle: c.Handle, Ref: ref, Challenge: taChallenge, Payload: payload,
		PasswordHAT: f.PasswordHAT}.Execute(ctx, c.Pay)
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	if _, err := c.Conn.Write(rec); err != nil {
		return wire.SignedFeedback{}, err
	}
	ans, err := c.Receive(ctx)
	if err != nil {
		return wire.SignedFeedback{}, err
	}
	if t, _ := wire.PeekType(ans); t == wire.TypeResult {
		r, err := wire.ParseResult(ans)
		if err != nil {
			return wire.SignedFeedback{}, err
		}
		return wire.SignedFeedback{}, &ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	return wire.ParseSignedFeedback(ans)
}
