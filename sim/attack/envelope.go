package attack

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// keyRecipients are the TAs Keymaster sends its auth-token key to
// (docs/protocol.md §4.1).
var keyRecipients = []tee.Role{tee.RoleFingerprint, tee.RoleGatekeeper, tee.RolePayment}

// setAuthTokenKey hands env to role's SET_AUTH_TOKEN_KEY.
func setAuthTokenKey(ctx context.Context, role tee.Role, inv rpc.Invoker, env []byte) error {
	switch role {
	case tee.RoleFingerprint:
		return fpproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
	case tee.RoleGatekeeper:
		return gkproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
	case tee.RolePayment:
		return payproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
	}
	return fmt.Errorf("no SET_AUTH_TOKEN_KEY on %s", role)
}

// keyEnvelope asks Keymaster for its auth-token key sealed to role, as
// the REE relay does.
func keyEnvelope(ctx context.Context, km rpc.Invoker, role tee.Role) ([]byte, error) {
	u, err := tee.UUIDOf(role)
	if err != nil {
		return nil, err
	}
	return kmproto.GetAuthTokenKey{Recipient: u}.Execute(ctx, km)
}

// relayBench is a booted device with a Keymaster session and one session
// per key recipient.
type relayBench struct {
	dev  *device
	km   rpc.Invoker
	sess map[tee.Role]rpc.Invoker
}

// relayBench boots a device (TAs and HAL) and opens the bench's sessions
// on it.
func (r *runner) relayBench(ctx context.Context, t *tally) *relayBench {
	dev, err := r.boot(ctx, true, simdev.RestartPolicy{})
	if !t.must("boot device", err) {
		return nil
	}
	return dev.relayBench(ctx, t)
}

// relayBench opens a Keymaster session and one session per key recipient
// on d.
func (d *device) relayBench(ctx context.Context, t *tally) *relayBench {
	var err error
	b := &relayBench{dev: d, sess: map[tee.Role]rpc.Invoker{}}
	if b.km, err = d.session(ctx, tee.RoleKeymaster); !t.must("keymaster", err) {
		return nil
	}
	for _, role := range keyRecipients {
		s, err := d.session(ctx, role)
		if !t.must(string(role), err) {
			return nil
		}
		b.sess[role] = s
	}
	return b
}

// payRelay is a pay fixture (the attacker in the HAL's place, holding
// the bio auth results) with the relay bench's sessions on its device: it
// holds the key envelopes too. The bench is nil on failure.
func (r *runner) payRelay(ctx context.Context, t *tally) (*payFixture, *relayBench) {
	p := r.paySetup(ctx, t, simdev.RestartPolicy{})
	if p == nil {
		return nil, nil
	}
	return p, p.dev.relayBench(ctx, t)
}

// fresh returns a new auth-token-key envelope for role.
func (b *relayBench) fresh(ctx context.Context, t *tally, role tee.Role) ([]byte, bool) {
	env, err := keyEnvelope(ctx, b.km, role)
	return env, t.must("GET_AUTH_TOKEN_KEY("+string(role)+")", err)
}

var envReplayKey = attack{
	Info: Info{
		ID:      "env-replay-key",
		Attack:  "replay an accepted auth-token-key envelope to fingerprint, gatekeeper, payment TAs",
		Defence: "per-route replay mark: an envelope opens only if its seq is above the last accepted (protocol §4.4) → TEEC_ERROR_SECURITY",
		Want:    Rejected,
	},
	run: given((*runner).relayBench, func(ctx context.Context, r *runner, b *relayBench, t *tally) {
		var name string
		for _, role := range keyRecipients {
			env, ok := b.fresh(ctx, t, role)
			if !ok || !t.must("control: first delivery to "+string(role), setAuthTokenKey(ctx, role, b.sess[role], env)) {
				return
			}
			name = t.refused("envelope replayed to "+string(role), setAuthTokenKey(ctx, role, b.sess[role], env), tee.ErrSecurity)
		}
		t.summarize("replays to fingerprint, gatekeeper and payment → %s; first deliveries accepted", name)
	}),
}

var envRedirect = attack{
	Info: Info{
		ID:      "env-redirect",
		Attack:  "hand an envelope to a TA it was not sealed for (auth-token keys; a bio auth result to Gatekeeper, …)",
		Defence: "recipient UUID and manifest route in the authenticated header (protocol §4.5) → TEEC_ERROR_ACCESS_DENIED",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		p, b := r.payRelay(ctx, t)
		if b == nil {
			return
		}
		sess, envs := b.sess, map[tee.Role][]byte{}
		for _, role := range keyRecipients {
			var ok bool
			if envs[role], ok = b.fresh(ctx, t, role); !ok {
				return
			}
		}
		op, res, ok := p.matched(ctx, t)
		if !ok {
			return
		}
		fp, gk, pay := sess[tee.RoleFingerprint], sess[tee.RoleGatekeeper], sess[tee.RolePayment]
		name := t.refused("gatekeeper's key envelope → fingerprint SET_AUTH_TOKEN_KEY",
			setAuthTokenKey(ctx, tee.RoleFingerprint, fp, envs[tee.RoleGatekeeper]), tee.ErrAccessDenied)
		t.refused("fingerprint's key envelope → gatekeeper SET_AUTH_TOKEN_KEY",
			setAuthTokenKey(ctx, tee.RoleGatekeeper, gk, envs[tee.RoleFingerprint]), tee.ErrAccessDenied)
		t.refused("payment's key envelope → payment DELIVER (as a bio report)",
			deliver(ctx, pay, envs[tee.RolePayment]), tee.ErrAccessDenied)
		t.refused("payment's key envelope → gatekeeper SET_AUTH_TOKEN_KEY",
			setAuthTokenKey(ctx, tee.RoleGatekeeper, gk, envs[tee.RolePayment]), tee.ErrAccessDenied)
		t.refused("bio auth result → gatekeeper SET_AUTH_TOKEN_KEY",
			setAuthTokenKey(ctx, tee.RoleGatekeeper, gk, res), tee.ErrAccessDenied)
		t.refused("bio auth result → fingerprint SET_AUTH_TOKEN_KEY",
			setAuthTokenKey(ctx, tee.RoleFingerprint, fp, res), tee.ErrAccessDenied)
		t.refused("bio auth result → payment SET_AUTH_TOKEN_KEY (as Keymaster's key)",
			setAuthTokenKey(ctx, tee.RolePayment, pay, res), tee.ErrAccessDenied)
		// The envelopes were genuine: each opens where it was sent.
		for _, role := range keyRecipients {
			if !t.must("control: "+string(role)+"'s envelope to "+string(role), setAuthTokenKey(ctx, role, sess[role], envs[role])) {
				return
			}
		}
		if !t.must("control: the bio auth result to payment DELIVER", deliver(ctx, pay, res)) ||
			!t.must("control: pay the matched challenge", p.sign(ctx, op, "order 1")) {
			return
		}
		t.summarize("4 redirected key envelopes and 3 redirected bio auth results → %s; each opens at its own recipient, the auth result pays", name)
	},
}

// deliver is the payment TA's DELIVER.
func deliver(ctx context.Context, pay rpc.Invoker, env []byte) error {
	_, err := payproto.Deliver{Envelope: env}.Execute(ctx, pay)
	return err
}

var envReorder = attack{
	Info: Info{
		ID:      "env-reorder",
		Attack:  "deliver two envelopes out of order (auth-token keys; two bio auth results)",
		Defence: "sequence numbers strictly increase per route; the older one is a replay (protocol §4.4, §8.3) → TEEC_ERROR_SECURITY",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		p, b := r.payRelay(ctx, t)
		if b == nil {
			return
		}
		fp := b.sess[tee.RoleFingerprint]
		older, ok := b.fresh(ctx, t, tee.RoleFingerprint)
		if !ok {
			return
		}
		newer, ok := b.fresh(ctx, t, tee.RoleFingerprint)
		if !ok {
			return
		}
		if !t.must("control: newer key envelope", setAuthTokenKey(ctx, tee.RoleFingerprint, fp, newer)) {
			return
		}
		name := t.refused("older key envelope after the newer", setAuthTokenKey(ctx, tee.RoleFingerprint, fp, older), tee.ErrSecurity)

		op1, ok := p.begin(ctx, t)
		if !ok {
			return
		}
		op2, ok := p.begin(ctx, t)
		if !ok {
			return
		}
		r1, err := p.authResult(ctx, op1)
		if !t.must("bio auth result 1", err) {
			return
		}
		r2, err := p.authResult(ctx, op2)
		if !t.must("bio auth result 2", err) {
			return
		}
		if !t.must("control: deliver the newer auth result", deliver(ctx, p.app.Session, r2)) {
			return
		}
		t.refused("older auth result after the newer", deliver(ctx, p.app.Session, r1), tee.ErrSecurity)
		if !t.must("control: pay with the newer result", p.sign(ctx, op2, "order 2")) {
			return
		}
		t.refused("pay with the reordered (lost) result", p.sign(ctx, op1, "order 1"), payproto.ErrNotAuthorized)
		t.summarize("older key envelope and older bio result → %s; the lost result authorises no payment", name)
	},
}

// envelopeRegions are the fields of a version-1 envelope (protocol §4.2);
// the payload is 32 bytes for an auth-token key.
var envelopeRegions = []region{
	{"version", 0, 1}, {"sender", 1, 16}, {"recipient", 17, 16}, {"type", 33, 4},
	{"seq", 37, 8}, {"nonce", 45, 12}, {"length", 57, 4}, {"ciphertext", 61, 32}, {"tag", 93, 16},
}

var envForge = attack{
	Info: Info{
		ID:      "env-forge",
		Attack:  "flip a byte in each field of an auth-token-key envelope before relaying it",
		Defence: "strict layout, recipient/route checks, SM4-GCM over header+payload (protocol §4.2-4.5) → refused",
		Want:    Rejected,
	},
	run: given((*runner).relayBench, func(ctx context.Context, r *runner, b *relayBench, t *tally) {
		env, ok := b.fresh(ctx, t, tee.RoleFingerprint)
		if !ok {
			return
		}
		if len(env) != 109 {
			t.brokef("auth-token-key envelope of %d bytes, want 109", len(env))
			return
		}
		fp := b.sess[tee.RoleFingerprint]
		for _, reg := range envelopeRegions {
			bad, where := flip(env, reg)
			t.refused("envelope with "+where,
				setAuthTokenKey(ctx, tee.RoleFingerprint, fp, bad), tee.ErrSecurity, tee.ErrAccessDenied, tee.ErrBadFormat)
		}
		// Refused forgeries did not move the replay mark: the genuine
		// envelope still opens.
		if !t.must("control: the genuine envelope", setAuthTokenKey(ctx, tee.RoleFingerprint, fp, env)) {
			return
		}
		t.summarize("%d/%d forged envelopes refused (BAD_FORMAT, ACCESS_DENIED or SECURITY); the genuine one opens", len(t.held), len(envelopeRegions))
	}),
}
