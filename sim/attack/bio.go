package attack

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"syscall"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// sceneRef is the payment key the bio attacks sign with.
var sceneRef = payproto.KeyRef{AppID: "com.example.wallet", Scene: "pay"}

// payFixture is a device where the attacker is the HAL (it holds the
// fingerprint TA's outbox), finger A is enrolled in group 0, every bio
// envelope so far has been relayed honestly, and a scene key bound to
// group 0's fingers is registered with the payment TA.
type payFixture struct {
	*fixture
	outbox rpc.Invoker // a fingerprint TA session for FETCH_OUTBOX
	app    drive.App   // the payment app: its payment TA session and scene key
}

func (r *runner) paySetup(ctx context.Context, t *tally, restart simdev.RestartPolicy) *payFixture {
	p, _ := r.payScene(ctx, t, restart)
	return p
}

// payScene is paySetup that also returns the scene key's registration
// (its certificates), for a bench that registers the device with a
// server. The fixture is nil when a step failed.
func (r *runner) payScene(ctx context.Context, t *tally, restart simdev.RestartPolicy) (*payFixture, drive.Registration) {
	fx := r.setup(ctx, t, false, restart)
	if fx == nil {
		return nil, drive.Registration{}
	}
	p := &payFixture{fixture: fx}
	var err error
	if p.outbox, err = fx.dev.session(ctx, tee.RoleFingerprint); !t.must("fingerprint", err) {
		return nil, drive.Registration{}
	}
	pay, err := fx.dev.session(ctx, tee.RolePayment, rpc.AsUser())
	if !t.must("payment", err) {
		return nil, drive.Registration{}
	}
	if !t.must("relay finger lists", drive.RelayOutbox(p.outbox, pay)(ctx)) {
		return nil, drive.Registration{}
	}
	reg, err := drive.RegisterScene(ctx, pay, sceneRef, 0, nil)
	if !t.must("register the scene key", err) {
		return nil, drive.Registration{}
	}
	p.app = drive.App{Session: pay, Ref: sceneRef, Scene: reg.SceneCert}
	return p, reg
}

// paying is paySetup as a fixture for given.
func paying(restart simdev.RestartPolicy) func(*runner, context.Context, *tally) *payFixture {
	return func(r *runner, ctx context.Context, t *tally) *payFixture { return r.paySetup(ctx, t, restart) }
}

// authResult authenticates finger A with operation_id = op and takes the
// sealed BIO_AUTH_RESULT the fingerprint TA put in its outbox, without
// delivering it (the compromised HAL holds it).
func (p *payFixture) authResult(ctx context.Context, op uint64) ([]byte, error) {
	if _, err := authenticate(ctx, p.fp, p.sen, fingerA, op, 0); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return p.heldResult(ctx)
}

// heldResult takes the one sealed BIO_AUTH_RESULT a match put in the
// fingerprint TA's outbox, as the HAL does, without delivering it.
func (p *payFixture) heldResult(ctx context.Context) ([]byte, error) {
	envs, _, err := fpproto.FetchOutbox{}.Execute(ctx, p.outbox)
	if err != nil {
		return nil, fmt.Errorf("FETCH_OUTBOX: %w", err)
	}
	if len(envs) != 1 {
		return nil, fmt.Errorf("FETCH_OUTBOX: %d envelopes after one match, want 1", len(envs))
	}
	e, err := envelope.Parse(envs[0])
	if err != nil {
		return nil, err
	}
	if e.Type != envelope.MsgBioAuthResult {
		return nil, fmt.Errorf("outbox holds a %v, want a bio auth result", e.Type)
	}
	return envs[0], nil
}

// sign asks for a payment signature for challenge and verifies the
// statement offline (drive.App.Sign).
func (p *payFixture) sign(ctx context.Context, challenge uint64, order string) error {
	_, err := p.app.Sign(ctx, challenge, []byte(order))
	return err
}

// challenge draws an authenticate operation id no payment waits for.
func challenge() uint64 { return mrand.Uint64() | 1 }

// begin is BEGIN_PAYMENT for the fixture's scene key: the payment
// challenge (authenticate's operation id) the payment TA issues.
func (p *payFixture) begin(ctx context.Context, t *tally) (uint64, bool) {
	c, err := p.app.Begin(ctx)
	return c, t.must("payment challenge", err)
}

// matched begins a payment and authenticates finger A for its challenge:
// it returns the challenge and the sealed auth result the compromised HAL
// holds, undelivered.
func (p *payFixture) matched(ctx context.Context, t *tally) (uint64, []byte, bool) {
	c, ok := p.begin(ctx, t)
	if !ok {
		return 0, nil, false
	}
	res, err := p.authResult(ctx, c)
	return c, res, t.must("bio auth result", err)
}

var bioReplay = attack{
	Info: Info{
		ID:      "bio-replay",
		Attack:  "replay a delivered bio auth result envelope to the payment TA",
		Defence: "replay mark of the fingerprint→payment route, sealed in the TA's store with the effect (protocol §4.4, §8) → TEEC_ERROR_SECURITY",
		Want:    Rejected,
	},
	run: given(paying(simdev.RestartPolicy{MaxRestarts: 1}), func(ctx context.Context, r *runner, p *payFixture, t *tally) {
		op, res, ok := p.matched(ctx, t)
		if !ok {
			return
		}
		if !t.must("control: deliver", deliver(ctx, p.app.Session, res)) || !t.must("control: pay", p.sign(ctx, op, "order 1")) {
			return
		}
		name := t.refused("the same auth result delivered again", deliver(ctx, p.app.Session, res), tee.ErrSecurity)
		t.refused("pay again after the replay", p.sign(ctx, op, "order 2"), payproto.ErrNotAuthorized)

		// The mark is in the payment TA's sealed store: kill -9 it and
		// replay to the restarted process (the launcher's relay after a
		// restart touches only the Keymaster route).
		pid, err := p.dev.sim.PID(tee.RolePayment)
		if !t.must("payment TA pid", err) || !t.must("kill -9 the payment TA", syscall.Kill(pid, syscall.SIGKILL)) {
			return
		}
		if _, err := p.dev.waitEvent(ctx, tee.RolePayment, simdev.EventRestarted); !t.must("payment TA restart", err) {
			return
		}
		pay, err := p.dev.session(ctx, tee.RolePayment, rpc.AsUser())
		if !t.must("payment TA after restart", err) {
			return
		}
		p.app.Session = pay
		t.refused("the auth result replayed to the restarted payment TA", deliver(ctx, p.app.Session, res), tee.ErrSecurity)
		t.refused("pay again after the restart", p.sign(ctx, op, "order 3"), payproto.ErrNotAuthorized)
		t.summarize("replayed auth result → %s, also after the payment TA's kill -9 and restart; no second signature", name)
	}),
}

var bioReuse = attack{
	Info: Info{
		ID:      "bio-reuse",
		Attack:  "spend one fingerprint match on a second payment (same or other challenge)",
		Defence: "auth results are single-use and bound to transaction_id = challenge (protocol §8) → NOT_AUTHORIZED",
		Want:    Rejected,
	},
	run: given(paying(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, p *payFixture, t *tally) {
		op, res, ok := p.matched(ctx, t)
		if !ok {
			return
		}
		if !t.must("deliver", deliver(ctx, p.app.Session, res)) {
			return
		}
		other, ok := p.begin(ctx, t)
		if !ok {
			return
		}
		name := t.refused("pay a different challenge with the match", p.sign(ctx, other, "order for another transaction"), payproto.ErrNotAuthorized)
		if !t.must("control: pay the matched challenge", p.sign(ctx, op, "order 1")) {
			return
		}
		t.refused("pay the same challenge a second time", p.sign(ctx, op, "order 2"), payproto.ErrNotAuthorized)
		t.summarize("second payment and another transaction → %s; the first payment verifies", name)
	}),
}
