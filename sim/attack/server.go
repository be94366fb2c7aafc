package attack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/emmansun/gmsm/sm2"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
)

// The payment server's rows (issue 11; docs/protocol.md §14): the
// compromised REE is the payment app between the payment TA and `fpemu
// server`, holding every statement the TA signs. Each row's control books
// an honest payment on the same bench.
//
// Canaries (TestServerCanaries): every row reports NOT REJECTED against
// a server child of the test binary without its defence, and REJECTED
// against the real one (TestServerRows). The stateless rules (payload
// binding, signature, identity, device roots) are removed one at a time
// through payserver/canary, a seam only a test binary can set; the store
// rules through store wrappers: counterBlind takes any counter,
// forgetfulLedger keeps no booking state (no consumed challenge, no single
// booking, no counter). Each row's comment names its canary.

func init() {
	suite = append(suite, srvReplay, srvOtherOrder, srvTamper, srvCounterRollback, srvChallengeReuse,
		srvCrossDevice, srvUnattested, srvDoubleSpend)
}

var srvReplay = attack{
	Info: Info{
		ID:      "srv-replay",
		Attack:  "replay a booked payment statement to the server under new request ids, on the same and a new connection",
		Defence: "the store books a statement once: its challenge is consumed in the booking transaction and the same statement returns the first booking (§12, §14.4) — no second ledger row",
		Want:    Rejected,
	},
	// Canary: a store that keeps no booking state (forgetfulLedger,
	// weakening "no-single-booking"): each replay books a new entry.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		id, sum, st, err := b.signedOrder(ctx, ch, "replay", "coffee-7", 1250)
		if !t.must("signed order", err) {
			return
		}
		fb, err := ch.ResendStatement(ctx, st, sum, reqID())
		if !mustBook(t, "control: the statement is booked", fb, err) {
			return
		}
		ch2, err := b.dial(ctx, b.srv)
		if !t.must("second channel", err) {
			return
		}
		for i, c := range []*drive.Channel{ch, ch2} {
			again, err := c.ResendStatement(ctx, st, sum, reqID())
			switch {
			case err != nil:
				var sr *drive.ServerRefused
				if errors.As(err, &sr) {
					t.heldf("replay %d → refused %s", i+1, sr.Rule)
				} else {
					t.brokef("replay %d: %s", i+1, describe(err))
				}
			case again.Rule == wire.RuleOK && again.Replayed && again.EntryID == fb.EntryID:
				t.heldf("replay %d → the first booking (entry %d), nothing booked", i+1, fb.EntryID)
			case again.Rule == wire.RuleOK:
				t.breachf("replay %d: booked again (entry %d, first %d)", i+1, again.EntryID, fb.EntryID)
			default:
				t.heldf("replay %d → refused %s", i+1, again.Rule)
			}
		}
		led, err := b.ledger(ctx, b.srv)
		if !t.must("ledger", err) {
			return
		}
		if n := rowsOf(led, id); n != 1 {
			t.breachf("the order has %d ledger rows after the replays, want 1", n)
		}
		t.summarize("two replays under new request ids returned the first booking; one ledger row")
	}),
}

var srvOtherOrder = attack{
	Info: Info{
		ID:      "srv-other-order",
		Attack:  "present the statement the user signed for a small order as the payment of a large order (the large order's own challenge in the pay intent)",
		Defence: "the statement's payload hash must be SM3 of the order binding of the announced order and challenge (§14.4, verify.Statement) → payload",
		Want:    Rejected,
	},
	// Canary: a server without the payload binding (payserver/canary
	// SkipBinding, weakening "no-binding") books the large order.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		_, small, st, err := b.signedOrder(ctx, ch, "small", "tea shop", 100)
		if !t.must("signed small order", err) {
			return
		}
		large, err := b.order(ctx, b.srv, "large", "attacker", 5_000_000, "gold")
		if !t.must("large order", err) {
			return
		}
		_, lsum, err := ch.ServerChallenge(ctx, large)
		if !t.must("large order's challenge", err) {
			return
		}
		fb, err := ch.ResendStatement(ctx, st, lsum, reqID())
		name := refusedRule(t, "small order's statement for the large order", fb, err, wire.RulePayload)
		fb, err = ch.ResendStatement(ctx, st, small, reqID())
		if !mustBook(t, "control: the statement pays its own order", fb, err) {
			return
		}
		t.summarize("the statement for another order → %s; it paid its own order", name)
	}),
}

var srvTamper = attack{
	Info: Info{
		ID:      "srv-tamper",
		Attack:  "show the TA an order summary with the amount or the payee edited, and edit the signed statement's bytes (its payload hash, its counter)",
		Defence: "the server binds the statement to its own order record (§14.4: payload = SM3 of wire.Binding) → payload; the scene key's SM2 signature covers the statement → signature",
		Want:    Rejected,
	},
	// Canaries: without the payload binding ("no-binding") the edited
	// summaries book; without the signature check ("no-signature") the
	// statement with its counter edited books.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		id, err := b.order(ctx, b.srv, "tamper", "coffee-7", 5000, "a box of beans")
		if !t.must("order", err) {
			return
		}
		_, sum, err := ch.ServerChallenge(ctx, id)
		if !t.must("challenge", err) {
			return
		}
		var name string
		for _, e := range []struct {
			what string
			edit func(*wire.Summary)
		}{
			{"amount 5000 shown and signed as 1", func(s *wire.Summary) { s.Amount = 1 }},
			{"payee coffee-7 shown and signed as attacker", func(s *wire.Summary) { s.Payee = "attacker" }},
		} {
			edited := sum
			e.edit(&edited)
			st, err := b.statement(ctx, edited)
			if !t.must("TA signs the edited summary", err) {
				return
			}
			// The intent names the real order and challenge: the server
			// builds the binding from its own record.
			fb, err := ch.ResendStatement(ctx, st, sum, reqID())
			name = refusedRule(t, e.what, fb, err, wire.RulePayload)
		}
		st, err := b.statement(ctx, sum)
		if !t.must("honest statement", err) {
			return
		}
		s, err := proof.ParseSigned(st)
		if !t.must("parse statement", err) {
			return
		}
		body, err := proof.ParseStatement(s.Body)
		if !t.must("parse statement body", err) {
			return
		}
		// The attacker rewrites the payload hash to that of an edited
		// summary, keeping the TA's signature.
		edited := sum
		edited.Amount = 1
		payload, err := wire.Binding(edited)
		if !t.must("binding", err) {
			return
		}
		body.PayloadHash = proof.PayloadHash(payload)
		if s.Body, err = body.Marshal(); !t.must("re-encode", err) {
			return
		}
		forged, err := s.Marshal()
		if !t.must("re-frame", err) {
			return
		}
		fb, err := ch.ResendStatement(ctx, forged, edited, reqID())
		// The server checks the signature first; the edited payload
		// fails the binding too, so a server without the signature check
		// still refuses it (payload): the counter edit below is the probe
		// only the signature stops.
		sig := refusedRule(t, "statement bytes edited to the amount 1, the TA's signature kept", fb, err, wire.RuleSignature, wire.RulePayload)
		if s, err = proof.ParseSigned(st); !t.must("parse statement", err) {
			return
		}
		if body, err = proof.ParseStatement(s.Body); !t.must("parse statement body", err) {
			return
		}
		body.Counter += 1 << 20 // a counter far ahead: the key's next honest payments would be refused
		if s.Body, err = body.Marshal(); !t.must("re-encode", err) {
			return
		}
		if forged, err = s.Marshal(); !t.must("re-frame", err) {
			return
		}
		fb, err = ch.ResendStatement(ctx, forged, sum, reqID())
		refusedRule(t, "statement counter edited (+2^20), the TA's signature kept", fb, err, wire.RuleSignature)
		fb, err = ch.ResendStatement(ctx, st, sum, reqID())
		if !mustBook(t, "control: the honest statement is booked", fb, err) {
			return
		}
		t.summarize("edited amount and payee → %s; edited statement bytes → %s; the honest statement booked", name, sig)
	}),
}

var srvCounterRollback = attack{
	Info: Info{
		ID:      "srv-counter-rollback",
		Attack:  "hold back an older statement, let a newer one book, then deliver the older one (its order and challenge still open)",
		Defence: "the scene key's counter must strictly increase, compare-and-swap in the booking transaction (SOTER counter; WebAuthn §6.1.1 signCount) → counter",
		Want:    Rejected,
	},
	// Canary: a server whose store raises any counter to the key's next
	// (TestServerCanaries, weakening "counter").
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		_, oldSum, old, err := b.signedOrder(ctx, ch, "older", "coffee-7", 300)
		if !t.must("older statement", err) {
			return
		}
		_, newSum, newer, err := b.signedOrder(ctx, ch, "newer", "coffee-7", 400)
		if !t.must("newer statement", err) {
			return
		}
		fb, err := ch.ResendStatement(ctx, newer, newSum, reqID())
		if !mustBook(t, "control: the newer statement is booked", fb, err) {
			return
		}
		fb2, err := ch.ResendStatement(ctx, old, oldSum, reqID())
		name := refusedRule(t, "the older statement after the newer one", fb2, err, wire.RuleCounter)
		t.summarize("the older statement (counter below the booked %d) → %s", fb.Counter, name)
	}),
}

var srvChallengeReuse = attack{
	Info: Info{
		ID:      "srv-challenge-reuse",
		Attack:  "after a booking, have the TA sign a fresh statement over the same server challenge, for the same order and for another order",
		Defence: "a challenge is consumed by its booking and bound to its order, device and amount (§12) → challenge used",
		Want:    Rejected,
	},
	// Canary: a store that keeps no booking state (forgetfulLedger,
	// weakening "no-single-booking") books both statements.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		_, sum, st, err := b.signedOrder(ctx, ch, "first", "coffee-7", 700)
		if !t.must("signed order", err) {
			return
		}
		fb, err := ch.ResendStatement(ctx, st, sum, reqID())
		if !mustBook(t, "control: the statement is booked", fb, err) {
			return
		}
		again, err := b.statement(ctx, sum)
		if !t.must("a fresh statement over the used challenge", err) {
			return
		}
		fb, err = ch.ResendStatement(ctx, again, sum, reqID())
		name := refusedRule(t, "fresh statement, same order, used challenge", fb, err, wire.RuleChallengeUsed)
		other, err := b.order(ctx, b.srv, "second", "coffee-7", 700, "goods second")
		if !t.must("another order", err) {
			return
		}
		moved := sum
		moved.OrderID, moved.Text = other, "goods second" // the binding matches the other order's record
		st2, err := b.statement(ctx, moved)
		if !t.must("a statement for another order over the used challenge", err) {
			return
		}
		fb, err = ch.ResendStatement(ctx, st2, moved, reqID())
		refusedRule(t, "fresh statement, other order, used challenge", fb, err, wire.RuleChallengeUsed, wire.RuleChallengeBinding)
		t.summarize("the used challenge → %s for the same and another order", name)
	}),
}

var srvCrossDevice = attack{
	Info: Info{
		ID:      "srv-cross-device",
		Attack:  "replay the victim's statement and registration chain from the attacker's own phone (channel certificates from the same payment CA)",
		Defence: "the statement and the chain must name the authenticated channel peer (§14.3, §14.4) → identity",
		Want:    Rejected,
	},
	// Canary: a server that takes the device the chain and statement name
	// for the peer (payserver/canary SkipIdentity, weakening
	// "no-identity") registers the chain and books the statement.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		_, sum, st, err := b.signedOrder(ctx, ch, "victim", "coffee-7", 900)
		if !t.must("victim's statement", err) {
			return
		}
		phone, err := b.newOtherPhone(ctx)
		if !t.must("attacker's phone", err) {
			return
		}
		pc, err := phone.connect(b, b.srv)
		if !t.must("attacker's channel", err) {
			return
		}
		res, ok := pc.register(t, wire.Register{Device: b.reg.Device, App: b.reg.App, Scene: b.reg.Scene, FingerIDs: b.fingers})
		if !ok {
			return
		}
		name := refusedRegistration(t, "victim's registration chain from the attacker's phone", res, wire.RuleIdentity)
		intent, err := wire.PayIntent{RequestID: reqID(), OrderID: sum.OrderID, Challenge: sum.Challenge}.Marshal()
		if !t.must("pay intent", err) || !t.must("send intent", pc.send(intent)) || !t.must("send statement", pc.send(st)) {
			return
		}
		ans, err := pc.receive()
		if !t.must("payment answer", err) {
			return
		}
		var fb wire.Feedback
		if typ, _ := wire.PeekType(ans); typ == wire.TypeResult {
			res, err := wire.ParseResult(ans)
			if !t.must("payment result", err) {
				return
			}
			fb.Rule = res.Rule
		} else if fb, err = wire.ParseFeedback(ans); !t.must("payment feedback", err) {
			return
		}
		refusedRule(t, "victim's statement from the attacker's phone", fb, nil, wire.RuleIdentity)
		fb, err = ch.ResendStatement(ctx, st, sum, reqID())
		if !mustBook(t, "control: the statement from its own device", fb, err) {
			return
		}
		t.summarize("the victim's chain and statement over another device's channel → %s; booked from its own", name)
	}),
}

var srvUnattested = attack{
	Info: Info{
		ID:      "srv-unattested",
		Attack:  "register a scene key under a device key the attacker made (a self-consistent device → app → scene chain), on the phone's own channel and from a phone whose channel certificate names the forged device",
		Defence: "the chain's device key must be one of the server's device roots (SOTER ATTK uploaded at the factory; §14.3) → not attested",
		Want:    Rejected,
	},
	// Canary: a server that takes any self-signed device key for a root
	// (payserver/canary SkipRoots, weakening "no-roots") registers the
	// chain sent from the attacker's own phone. (On the phone's own
	// channel the chain names another device, so identity refuses it
	// too; the second probe is the one only the roots stop.)
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		ch, err := b.dial(ctx, b.srv)
		if !t.must("channel", err) {
			return
		}
		reg, dev, err := forgedChain(b.fingers)
		if !t.must("attacker's chain", err) {
			return
		}
		err = ch.RegisterWithServer(ctx, reg, b.fingers)
		name := refusedRule(t, "registration under the attacker's device key", wire.Feedback{}, err, wire.RuleNotAttested)
		phone, err := b.newPhoneAs(ctx, dev)
		if !t.must("attacker's phone with a channel certificate for the forged device", err) {
			return
		}
		pc, err := phone.connect(b, b.srv)
		if !t.must("attacker's channel", err) {
			return
		}
		res, ok := pc.register(t, wire.Register{Device: reg.Device, App: reg.App, Scene: reg.Scene, FingerIDs: b.fingers})
		if !ok {
			return
		}
		refusedRegistration(t, "the forged chain from a phone whose channel names its device", res, wire.RuleNotAttested)
		if !t.must("control: the genuine registration", ch.RegisterWithServer(ctx, b.reg, b.fingers)) {
			return
		}
		t.summarize("the attacker's device key → %s, on its own channel too; the TA's chain accepted", name)
	}),
}

// forgedChain is a device → app → scene chain under fresh keys the
// attacker holds, every signature valid, and the device id it names.
func forgedChain(fingers []uint32) (drive.Registration, proof.DeviceID, error) {
	var keys [3]*sm2.PrivateKey
	var pubs [3]proof.PublicKey
	for i := range keys {
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return drive.Registration{}, proof.DeviceID{}, err
		}
		keys[i], pubs[i] = k, proof.PublicKeyOf(&k.PublicKey)
	}
	id := proof.DeviceIDOf(pubs[0])
	certs := []proof.Cert{
		{Kind: proof.KindDevice, DeviceID: id, PublicKey: pubs[0]},
		{Kind: proof.KindApp, DeviceID: id, Serial: 1, PublicKey: pubs[1], AppID: sceneRef.AppID},
		{Kind: proof.KindScene, DeviceID: id, Serial: 2, PublicKey: pubs[2], AppID: sceneRef.AppID, Scene: sceneRef.Scene,
			AuthenticatorID: 1, FingerBinding: proof.FingerBinding(0, 1, fingers)},
	}
	var out [3][]byte
	for i, c := range certs {
		body, err := c.Marshal()
		if err != nil {
			return drive.Registration{}, proof.DeviceID{}, err
		}
		signer := keys[0] // the device key signs itself and the app key
		if i == 2 {
			signer = keys[1]
		}
		if out[i], err = proof.Sign(signer, body); err != nil {
			return drive.Registration{}, proof.DeviceID{}, err
		}
	}
	return drive.Registration{Device: out[0], App: out[1], Scene: out[2]}, id, nil
}

var srvDoubleSpend = attack{
	Info: Info{
		ID:      "srv-double-spend",
		Attack:  "race two payments of one order across two server processes sharing the database: a statement for each of the order's two challenges, sent at once",
		Defence: "one booking per order in the booking transaction (order open → paid, the challenge row locked first; §12) → order paid; one ledger row",
		Want:    Rejected,
	},
	// Canary: two server processes whose store keeps no booking state
	// (forgetfulLedger, weakening "no-single-booking") both book.
	run: given((*runner).serverBench, func(ctx context.Context, r *runner, b *srvBench, t *tally) {
		srv2, err := r.startServer(ctx, b.args...)
		if !t.must("second fpemu server on the same database", err) {
			return
		}
		ch1, err := b.dial(ctx, b.srv)
		if !t.must("channel to server 1", err) {
			return
		}
		ch2, err := b.dial(ctx, srv2)
		if !t.must("channel to server 2", err) {
			return
		}
		const rounds = 3
		for i := range rounds {
			key := fmt.Sprintf("race-%d", i)
			id, err := b.order(ctx, b.srv, key, "coffee-7", 1000+int64(i), "race")
			if !t.must("order", err) {
				return
			}
			_, sum1, err := ch1.ServerChallenge(ctx, id)
			if !t.must("challenge from server 1", err) {
				return
			}
			_, sum2, err := ch2.ServerChallenge(ctx, id)
			if !t.must("challenge from server 2", err) {
				return
			}
			st1, err := b.statement(ctx, sum1)
			if !t.must("statement 1", err) {
				return
			}
			st2, err := b.statement(ctx, sum2)
			if !t.must("statement 2", err) {
				return
			}
			var wg sync.WaitGroup
			var fbs [2]wire.Feedback
			var errs [2]error
			wg.Add(2)
			go func() { defer wg.Done(); fbs[0], errs[0] = ch1.ResendStatement(ctx, st1, sum1, reqID()) }()
			go func() { defer wg.Done(); fbs[1], errs[1] = ch2.ResendStatement(ctx, st2, sum2, reqID()) }()
			wg.Wait()
			booked := 0
			for j := range fbs {
				if errs[j] == nil && fbs[j].Rule == wire.RuleOK && !fbs[j].Replayed {
					booked++
				}
			}
			switch booked {
			case 0:
				t.brokef("round %d: neither payment booked (%v %v / %v %v)", i+1, fbs[0].Rule, errs[0], fbs[1].Rule, errs[1])
				return
			case 2:
				t.breachf("round %d: both servers booked the order (entries %d and %d)", i+1, fbs[0].EntryID, fbs[1].EntryID)
			default:
				for j := range fbs {
					if !(errs[j] == nil && fbs[j].Rule == wire.RuleOK) {
						refusedRule(t, fmt.Sprintf("round %d: the losing server", i+1), fbs[j], errs[j], wire.RuleOrderPaid, wire.RuleCounter, wire.RuleChallengeUsed)
					}
				}
			}
			led, err := b.ledger(ctx, srv2)
			if !t.must("ledger", err) {
				return
			}
			if n := rowsOf(led, id); n != 1 {
				t.breachf("round %d: %d ledger rows for the order, want 1", i+1, n)
			}
		}
		t.summarize("%d races across two servers: one booking each, the other refused; one ledger row per order", rounds)
	}),
}
