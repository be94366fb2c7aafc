package drive

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee/rpc"
)

// App is a payment app with a registered scene key, as it pays
// (docs/protocol.md §8): its session on the payment TA, the scene key,
// and the scene certificate (Registration.SceneCert) its statements must
// verify under, as the payment server checks them.
type App struct {
	Session rpc.Invoker
	Ref     payproto.KeyRef
	Scene   proof.Cert
}

// ErrNotRelayed: SIGN_PAYMENT right after a match was NOT_AUTHORIZED, so
// the payment TA did not hold the match's auth result when the app heard
// of the match: whoever plays the HAL did not relay the fingerprint TA's
// sealed report first (docs/protocol.md §10.5). Pay's error wraps it and
// payproto.ErrNotAuthorized.
var ErrNotRelayed = errors.New("the payment TA does not hold the match's auth result (is the HAL relaying bio envelopes before onAuthenticated?)")

// Begin is BEGIN_PAYMENT: the challenge the payment TA issues for the
// scene key, authenticate's operation id and the transaction id the auth
// result is bound to. The TA's refusal (payproto.ErrKeyInvalidated, ...)
// is wrapped.
func (a App) Begin(ctx context.Context) (uint64, error) {
	c, err := payproto.BeginPayment{Ref: a.Ref}.Execute(ctx, a.Session)
	if err != nil {
		return 0, fmt.Errorf("BEGIN_PAYMENT: %w", err)
	}
	return c, nil
}

// Paid is a payment as the app saw it.
type Paid struct {
	Challenge uint64
	Auth      Authenticated   // the match that authorised it (Pay)
	Signed    []byte          // the statement SIGN_PAYMENT returned
	Statement proof.Statement // its fields, verified under the scene certificate
}

// Sign is SIGN_PAYMENT(challenge, payload) and the statement it returns
// verified offline under the scene certificate for challenge and payload
// (proof.VerifyPayment), as the server will. The TA's refusal
// (payproto.ErrNotAuthorized, ...) is wrapped; a statement that does not
// verify is returned with the error.
func (a App) Sign(ctx context.Context, challenge uint64, payload []byte) (Paid, error) {
	paid := Paid{Challenge: challenge}
	var err error
	if paid.Signed, err = (payproto.SignPayment{Ref: a.Ref, Challenge: challenge, Payload: payload}).Execute(ctx, a.Session); err != nil {
		return paid, fmt.Errorf("SIGN_PAYMENT: %w", err)
	}
	if paid.Statement, err = proof.VerifyPayment(paid.Signed, a.Scene, challenge, payload); err != nil {
		return paid, fmt.Errorf("the signed statement: %w", err)
	}
	return paid, nil
}

// Relay hands the payment TA the sealed auth result of a match before
// the app signs. Through the HAL there is nothing to do (a nil Relay):
// the HAL relays it before onAuthenticated. Through the fingerprint TA the
// caller plays the HAL: RelayOutbox, or its own relay.
type Relay func(ctx context.Context) error

// RelayOutbox is the HAL's bio relay played by hand: FETCH_OUTBOX on
// outbox (a fingerprint TA session) until it is empty, each envelope
// DELIVERed to pay in order.
func RelayOutbox(outbox, pay rpc.Invoker) Relay {
	return func(ctx context.Context) error {
		for {
			envs, left, err := fpproto.FetchOutbox{}.Execute(ctx, outbox)
			if err != nil {
				return fmt.Errorf("FETCH_OUTBOX: %w", err)
			}
			if err := payproto.DeliverAll(ctx, pay, envs); err != nil {
				return fmt.Errorf("DELIVER: %w", err)
			}
			if left == 0 {
				return nil
			}
		}
	}
}

// Payment is one payment of an App: the user's finger on group GID, the
// order's payload, how the user touches (Auth: placements, touches, and
// the Observer that sees every event) and how the match's auth result
// reaches the payment TA (Relay; nil through the HAL).
type Payment struct {
	Finger  *finger.Finger
	GID     uint32
	Payload []byte
	Auth    AuthOptions
	Relay   Relay
}

// Pay is one whole payment as the app and its user make it: Begin, then
// Authenticate p.Finger with operation_id = the challenge (a match is
// needed: ErrNoMatch or an *OpError otherwise), then p.Relay, then Sign,
// verified offline. SIGN_PAYMENT refused NOT_AUTHORIZED after the match
// is ErrNotRelayed. The result holds what the payment got before an error.
func (a App) Pay(ctx context.Context, fp Fingerprint, sen Sensor, p Payment) (Paid, error) {
	c, err := a.Begin(ctx)
	if err != nil {
		return Paid{}, err
	}
	auth, err := Authenticate(ctx, fp, sen, p.Finger, c, p.GID, p.Auth)
	if err != nil {
		return Paid{Challenge: c, Auth: auth}, fmt.Errorf("authenticate(%#x, %d): %w", c, p.GID, err)
	}
	if p.Relay != nil {
		if err := p.Relay(ctx); err != nil {
			return Paid{Challenge: c, Auth: auth}, fmt.Errorf("relay the auth result: %w", err)
		}
	}
	paid, err := a.Sign(ctx, c, p.Payload)
	paid.Auth = auth
	if errors.Is(err, payproto.ErrNotAuthorized) {
		err = fmt.Errorf("%w: %w", ErrNotRelayed, err)
	}
	return paid, err
}
