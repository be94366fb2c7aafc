package hal

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// paymentRelay returns the Config.Payment of device directory dir: a
// session on the payment TA at sock/payment.sock, or ErrNoPaymentTA when
// nothing serves that socket (no payment TA on this device, or it is
// down) — the envelopes then wait in the fingerprint TA's bounded outbox
// (docs/protocol.md §8.3). The HAL keeps the session open between relays
// (one connection, one session) and opens a new one when the payment TA
// has closed it or a DELIVER finds it dead.
func paymentRelay(dir string) func(ctx context.Context) (BioRelay, error) {
	sock := devdir.SocketPath(dir, tee.RolePayment)
	return func(ctx context.Context) (BioRelay, error) {
		c, err := rpc.Dial(ctx, sock)
		if err != nil {
			if errors.Is(err, tee.ErrTargetDead) {
				return nil, fmt.Errorf("%w: %w", ErrNoPaymentTA, err)
			}
			return nil, err
		}
		s, err := c.OpenSession(ctx, tee.UUIDPayment, nil)
		if err != nil {
			c.Close()
			return nil, err
		}
		return &paymentSession{client: c, session: s}, nil
	}
}

// paymentSession delivers envelopes with the payment TA's DELIVER command.
type paymentSession struct {
	client  *rpc.Client
	session *rpc.Session
}

func (p *paymentSession) Deliver(ctx context.Context, env []byte) error {
	_, err := payproto.Deliver{Envelope: env}.Execute(ctx, p.session)
	return err
}

func (p *paymentSession) Close() error { return p.client.Close() }

// PeerClosed reports whether the payment TA closed the connection (it
// exited) since the session was opened, without a round trip.
func (p *paymentSession) PeerClosed() bool { return p.client.PeerClosed() }
