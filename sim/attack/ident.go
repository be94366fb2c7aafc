package attack

import (
	"context"
	"os"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The identity attacks play a second payment app on the same device. The
// victim logs in as its user (TEEC_LOGIN_USER); the attacker, in the same
// process, logs in as the process's group (TEEC_LOGIN_GROUP, egid): a
// different GP client identity the kernel vouches for, as a second uid
// would be (sim's TestPaymentKeysBelongToUID runs two real uids).

// attackerOpts is the attacker app's login.
func attackerOpts() []rpc.SessionOption {
	return []rpc.SessionOption{rpc.AsGroup(uint32(os.Getegid()))}
}

var crossAppKeys = attack{
	Info: Info{
		ID:      "cross-app-keys",
		Attack:  "a second app replaces, certifies under, reads, deletes, begins, signs with another app's payment keys, and spends its challenge",
		Defence: "keys owned by the client identity the TA host derives from SO_PEERCRED and the GP login (protocol §1.12, §8) → TEEC_ERROR_ACCESS_DENIED / NOT_AUTHORIZED",
		Want:    Rejected,
	},
	// p holds the victim app's keys.
	run: given(paying(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, p *payFixture, t *tally) {
		if !t.must("control: the victim pays", p.payOnce(ctx, "order 1")) {
			return
		}
		// The victim's next payment is in flight: challenge issued, finger
		// matched, auth result delivered.
		c, ok := p.begin(ctx, t)
		if !ok {
			return
		}
		res, err := p.authResult(ctx, c)
		if !t.must("bio auth result", err) || !t.must("deliver", deliver(ctx, p.app.Session, res)) {
			return
		}
		atk, err := p.dev.session(ctx, tee.RolePayment, attackerOpts()...)
		if !t.must("attacker session", err) {
			return
		}
		app := payproto.KeyRef{AppID: sceneRef.AppID}
		name := t.refused("replace the victim's app key", createApp(ctx, atk, app.AppID), payproto.ErrNotOwner)
		t.refused("certify a scene key under the victim's app key",
			createScene(ctx, atk, payproto.KeyRef{AppID: app.AppID, Scene: "attacker"}), payproto.ErrNotOwner)
		t.refused("replace the victim's scene key", createScene(ctx, atk, sceneRef), payproto.ErrNotOwner)
		for _, u := range sceneKeyUses(c, "attacker order") {
			t.refused(u.name+" with the victim's scene key", u.run(ctx, atk), payproto.ErrNotOwner)
		}
		t.refused("delete the victim's app key", payproto.DeleteKey{Ref: app}.Execute(ctx, atk), payproto.ErrNotOwner)
		own := payproto.KeyRef{AppID: "com.attacker.app", Scene: "pay"}
		if !t.must("the attacker's own app key", createApp(ctx, atk, own.AppID)) || !t.must("the attacker's own scene key", createScene(ctx, atk, own)) {
			return
		}
		_, err = payproto.SignPayment{Ref: own, Challenge: c, Payload: []byte("attacker order")}.Execute(ctx, atk)
		t.refused("spend the victim's challenge and auth result with its own key", err, payproto.ErrNotAuthorized)
		// Nothing changed: the victim's in-flight payment goes through.
		if !t.must("control: the victim's payment after the attacks", p.sign(ctx, c, "order 2")) {
			return
		}
		t.summarize("8 actions on another app's keys → %s, its challenge spent elsewhere → NOT_AUTHORIZED; the owner still pays", name)
	}),
}

var publicLogin = attack{
	Info: Info{
		ID:      "public-login",
		Attack:  "use payment keys from a TEEC_LOGIN_PUBLIC session (no identity), including the app's own keys",
		Defence: "the payment TA's app commands need an identity; PUBLIC has the nil one (protocol §1.12, §8) → TEEC_ERROR_ACCESS_DENIED",
		Want:    Rejected,
	},
	run: given(paying(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, p *payFixture, t *tally) {
		c, res, ok := p.matched(ctx, t)
		if !ok {
			return
		}
		pub, err := p.dev.session(ctx, tee.RolePayment)
		if !t.must("public session", err) {
			return
		}
		// DELIVER is the HAL's relay and needs no identity.
		if !t.must("control: DELIVER from the public session", deliver(ctx, pub, res)) {
			return
		}
		name := t.refused("CREATE_APP_KEY over the app's id", createApp(ctx, pub, sceneRef.AppID), payproto.ErrNeedsIdentity)
		t.refused("CREATE_APP_KEY of a new app", createApp(ctx, pub, "com.public.app"), payproto.ErrNeedsIdentity)
		t.refused("CREATE_SCENE_KEY", createScene(ctx, pub, payproto.KeyRef{AppID: sceneRef.AppID, Scene: "public"}), payproto.ErrNeedsIdentity)
		for _, u := range sceneKeyUses(c, "public order") {
			t.refused(u.name, u.run(ctx, pub), payproto.ErrNeedsIdentity)
		}
		if !t.must("control: the app pays with its user login", p.sign(ctx, c, "order 1")) {
			return
		}
		t.summarize("7 app commands without an identity → %s; DELIVER works, the app's own login pays", name)
	}),
}

// keyUse is one command on an app's scene key.
type keyUse struct {
	name string
	run  func(context.Context, rpc.Invoker) error
}

// sceneKeyUses are the commands that use the app's existing scene key:
// read its certificate, begin a payment, sign challenge c's order with it
// (the app's own challenge), delete it. Only the app's own identity may.
func sceneKeyUses(c uint64, order string) []keyUse {
	return []keyUse{
		{"GET_CERT", func(ctx context.Context, inv rpc.Invoker) error {
			_, err := payproto.GetCert{Ref: sceneRef}.Execute(ctx, inv)
			return err
		}},
		{"BEGIN_PAYMENT", func(ctx context.Context, inv rpc.Invoker) error {
			_, err := payproto.BeginPayment{Ref: sceneRef}.Execute(ctx, inv)
			return err
		}},
		{"SIGN_PAYMENT with the app's challenge", func(ctx context.Context, inv rpc.Invoker) error {
			_, err := payproto.SignPayment{Ref: sceneRef, Challenge: c, Payload: []byte(order)}.Execute(ctx, inv)
			return err
		}},
		{"DELETE_KEY", func(ctx context.Context, inv rpc.Invoker) error {
			return payproto.DeleteKey{Ref: sceneRef}.Execute(ctx, inv)
		}},
	}
}

func createApp(ctx context.Context, inv rpc.Invoker, app string) error {
	_, err := payproto.CreateAppKey{AppID: app}.Execute(ctx, inv)
	return err
}

func createScene(ctx context.Context, inv rpc.Invoker, ref payproto.KeyRef) error {
	_, err := payproto.CreateSceneKey{Ref: ref, GroupID: 0}.Execute(ctx, inv)
	return err
}

// payOnce is one whole genuine payment (drive.App.Pay): BEGIN_PAYMENT, a
// match of finger A for its challenge, the one auth result it put in the
// outbox DELIVERed, SIGN_PAYMENT verified offline.
func (p *payFixture) payOnce(ctx context.Context, order string) error {
	_, err := p.app.Pay(ctx, p.fp, p.sen, drive.Payment{Finger: fingerA, Payload: []byte(order), Relay: p.deliverHeld})
	return err
}

// deliverHeld is the honest HAL's relay of a match: the one auth result
// in the outbox (heldResult), DELIVERed.
func (p *payFixture) deliverHeld(ctx context.Context) error {
	res, err := p.heldResult(ctx)
	if err != nil {
		return err
	}
	return deliver(ctx, p.app.Session, res)
}
