package drive

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/payserver/wire"
)

// The payment app's side of `fpemu server` (docs/protocol.md §14): each
// request is sealed by the payment TA into a channel record (CHANNEL_SEAL),
// each answer opened and verified by the TA (CHANNEL_OPEN_RECORD); the app
// reads the answers' payserver/wire messages, never a key.

// Request has the TA seal custom, sends it and returns the TA-verified
// answer.
func (c *Channel) Request(ctx context.Context, custom []byte) ([]byte, error) {
	if err := c.Send(ctx, custom); err != nil {
		return nil, err
	}
	return c.Receive(ctx)
}

// ServerRefused is a server's refusal: the rule it names.
type ServerRefused struct {
	Rule   wire.Rule
	Detail string
}

func (e *ServerRefused) Error() string {
	return fmt.Sprintf("server refused: %s (%s)", e.Rule, e.Detail)
}

// RegisterWithServer sends the scene key's attestation chain and its finger
// list (wire.Register); a refusal is a *ServerRefused.
func (c *Channel) RegisterWithServer(ctx context.Context, reg Registration, fingers []uint32) error {
	b, err := wire.Register{Device: reg.Device, App: reg.App, Scene: reg.Scene, FingerIDs: fingers}.Marshal()
	if err != nil {
		return err
	}
	ans, err := c.Request(ctx, b)
	if err != nil {
		return err
	}
	r, err := wire.ParseResult(ans)
	if err != nil {
		return err
	}
	if r.Rule != wire.RuleOK {
		return &ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	return nil
}

// ServerChallenge asks for a challenge for order and returns the signed
// order summary (the caller shows it to the user and checks the signature
// with the server's signing certificate, verify.SummarySignature); a refusal is a
// *ServerRefused.
func (c *Channel) ServerChallenge(ctx context.Context, orderID string) (wire.Challenge, wire.Summary, error) {
	b, err := wire.ChallengeRequest{OrderID: orderID}.Marshal()
	if err != nil {
		return wire.Challenge{}, wire.Summary{}, err
	}
	ans, err := c.Request(ctx, b)
	if err != nil {
		return wire.Challenge{}, wire.Summary{}, err
	}
	if t, _ := wire.PeekType(ans); t == wire.TypeResult {
		r, err := wire.ParseResult(ans)
		if err != nil {
			return wire.Challenge{}, wire.Summary{}, err
		}
		return wire.Challenge{}, wire.Summary{}, &ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	return wire.ParseChallenge(ans)
}

// PayOrder pays the order of sum: a PayIntent (requestID, order, server
// challenge), then CHANNEL_SEAL_PAYMENT with the scene key ref, the TA's
// own challenge (BEGIN_PAYMENT, already authorised by a fingerprint
// match) and the order binding as payload; it returns the server's
// feedback, verified by the TA. A refusal is a Feedback with its rule.
func (c *Channel) PayOrder(ctx context.Context, ref payproto.KeyRef, taChallenge uint64, sum wire.Summary, requestID []byte) (wire.Feedback, error) {
	payload, err := wire.Binding(sum)
	if err != nil {
		return wire.Feedback{}, err
	}
	if err := c.sendIntent(ctx, sum, requestID); err != nil {
		return wire.Feedback{}, err
	}
	if err := c.SendPayment(ctx, ref, taChallenge, payload); err != nil {
		return wire.Feedback{}, err
	}
	return c.feedback(ctx)
}

// ResendStatement is a retry of a payment whose statement the app holds
// (SIGN_PAYMENT): the same PayIntent and the statement sealed again
// (CHANNEL_SEAL); the server returns the first result.
func (c *Channel) ResendStatement(ctx context.Context, signed []byte, sum wire.Summary, requestID []byte) (wire.Feedback, error) {
	if err := c.sendIntent(ctx, sum, requestID); err != nil {
		return wire.Feedback{}, err
	}
	if err := c.Send(ctx, signed); err != nil {
		return wire.Feedback{}, err
	}
	return c.feedback(ctx)
}

// OrderStatus asks for the result of an order this device paid.
func (c *Channel) OrderStatus(ctx context.Context, orderID string) (wire.Feedback, error) {
	b, err := wire.StatusRequest{OrderID: orderID}.Marshal()
	if err != nil {
		return wire.Feedback{}, err
	}
	if err := c.Send(ctx, b); err != nil {
		return wire.Feedback{}, err
	}
	return c.feedback(ctx)
}

func (c *Channel) sendIntent(ctx context.Context, sum wire.Summary, requestID []byte) error {
	b, err := wire.PayIntent{RequestID: requestID, OrderID: sum.OrderID, Challenge: sum.Challenge}.Marshal()
	if err != nil {
		return err
	}
	return c.Send(ctx, b)
}

func (c *Channel) feedback(ctx context.Context) (wire.Feedback, error) {
	ans, err := c.Receive(ctx)
	if err != nil {
		return wire.Feedback{}, err
	}
	if t, _ := wire.PeekType(ans); t == wire.TypeResult {
		r, err := wire.ParseResult(ans)
		if err != nil {
			return wire.Feedback{}, err
		}
		return wire.Feedback{}, &ServerRefused{Rule: r.Rule, Detail: r.Detail}
	}
	return wire.ParseFeedback(ans)
}
