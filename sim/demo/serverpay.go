package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
)

// The merchant order the demo pays through the server, and the orders of
// its failure paths: amounts in minor units (fen).
var (
	demoOrder = orderRequest{Payee: "coffee-7", Amount: 1250, Currency: "CNY", Summary: "2 flat whites"}
	// tamperedAmount is what a compromised REE puts in the binding it asks
	// the TA to sign instead of the order's amount.
	tamperedAmount int64 = 1
)

// orderRequest is the merchant API's POST /v1/orders body.
type orderRequest = payserver.OrderRequest

// serverPay is what the server steps learn and hand on.
type serverPay struct {
	conn    net.Conn
	ch      *drive.Channel
	device  proof.DeviceID
	orderID string
	sum     wire.Summary
	op      uint64 // the TA's BEGIN_PAYMENT challenge the finger authorised
	fid     uint32
	fb      wire.Feedback
	// The failure paths: the order whose statement the REE tampered with
	// (left open) and the statement signed for it afterwards (A), then
	// another order's statement (B), booked first.
	openOrder wire.Summary
	stmtA     drive.Paid
	sumB      wire.Summary
	stmtB     drive.Paid
	fbB       wire.Feedback
}

// money formats minor units of currency.
func money(amount int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
}

// channel returns the app's channel to the server, opening it (TCP, then
// the gm-fs handshake run by the payment TA) when there is none; the
// connection's deadline is the step's.
func (r *runner) channel(ctx context.Context) (*drive.Channel, error) {
	if r.sp.ch == nil {
		conn, err := r.dialServer(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := drive.Connect(ctx, r.pay, conn, chanwire.ProfileGMFS)
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("gm-fs handshake with the server: %w", err)
		}
		r.sp.conn, r.sp.ch = conn, ch
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = r.sp.conn.SetDeadline(dl)
	}
	return r.sp.ch, nil
}

// closeChannel closes the channel in the TA and the connection.
func (r *runner) closeChannel(ctx context.Context) {
	if r.sp.ch != nil {
		if dl, ok := ctx.Deadline(); ok {
			_ = r.sp.conn.SetDeadline(dl)
		}
		_ = r.sp.ch.Close(ctx)
		_ = r.sp.conn.Close()
		r.sp.ch, r.sp.conn = nil, nil
	}
}

// newOrder has the merchant create an order (POST /v1/orders with an
// Idempotency-Key); the same key again must return the same order (200).
func (r *runner) newOrder(ctx context.Context, key string, o orderRequest) (orderJSON, error) {
	got, created, err := payserver.CreateOrder(ctx, r.srv.proc.HTTP, key, o)
	if err != nil {
		return got, err
	}
	if !created || got.ID == "" || got.Status != "open" {
		return got, fmt.Errorf("POST /v1/orders: %+v (created: %v), want 201 and an open order", got, created)
	}
	return got, nil
}

// challengeFor asks the server for a challenge for orderID and checks the
// order summary's signature with the server's signing certificate and that
// it names this device (what the app shows before the touch).
func (r *runner) challengeFor(ctx context.Context, orderID string) (wire.Summary, error) {
	ch, err := r.channel(ctx)
	if err != nil {
		return wire.Summary{}, err
	}
	c, sum, err := ch.ServerChallenge(ctx, orderID)
	if err != nil {
		return sum, err
	}
	if err := verify.SummarySignature(c, r.srv.sign); err != nil {
		return sum, fmt.Errorf("order summary: %w", err)
	}
	if sum.OrderID != orderID || sum.Device != r.sp.device || sum.Challenge == 0 {
		return sum, fmt.Errorf("summary names order %q device %x challenge %#x, want %q, this device, non-zero", sum.OrderID, sum.Device[:], sum.Challenge, orderID)
	}
	return sum, nil
}

// touchAndSign is the user paying with SIGN_PAYMENT: BEGIN_PAYMENT, a
// genuine touch of finger 1 through the HAL, then the statement over the
// binding of sum (the app holds the statement: the paths that replay or
// reorder it need it).
func (r *runner) touchAndSign(ctx context.Context, sum wire.Summary, noise uint64) (drive.Paid, error) {
	payload, err := wire.Binding(sum)
	if err != nil {
		return drive.Paid{}, err
	}
	op, err := r.app().Begin(ctx)
	if err != nil {
		return drive.Paid{}, err
	}
	if _, err := r.authenticate(ctx, op, r.fingers[0], noise); err != nil {
		return drive.Paid{}, err
	}
	if err := r.sensorIdle(ctx); err != nil {
		return drive.Paid{}, err
	}
	return r.app().Sign(ctx, op, payload)
}

// send has the TA seal signed and sends it for sum under requestID, and
// returns the server's rule with its feedback.
func (r *runner) send(ctx context.Context, signed []byte, sum wire.Summary, requestID string) (wire.Feedback, error) {
	ch, err := r.channel(ctx)
	if err != nil {
		return wire.Feedback{}, err
	}
	fb, err := ch.ResendStatement(ctx, signed, sum, []byte(requestID))
	var refused *drive.ServerRefused
	if errors.As(err, &refused) {
		return wire.Feedback{Rule: refused.Rule, Detail: refused.Detail, OrderID: sum.OrderID}, nil
	}
	return fb, err
}

// wantRule checks a refusal's rule.
func wantRule(fb wire.Feedback, want wire.Rule) error {
	if fb.Rule != want {
		return fmt.Errorf("server answered %v (entry %d), want refusal %v", fb.Rule, fb.EntryID, want)
	}
	return nil
}

func merchantOrder(r *runner, ctx context.Context, rec *record) error {
	o, err := r.newOrder(ctx, "demo-order-1", demoOrder)
	if err != nil {
		return err
	}
	again, created, err := payserver.CreateOrder(ctx, r.srv.proc.HTTP, "demo-order-1", demoOrder)
	if err != nil {
		return err
	}
	if created || again.ID != o.ID {
		return fmt.Errorf("the same Idempotency-Key again: order %q (created: %v), want 200 and %q", again.ID, created, o.ID)
	}
	r.sp.orderID = o.ID
	rec.Add("order", o.ID)
	rec.Add("payee", o.Payee)
	rec.Add("amount", money(o.Amount, o.Currency))
	rec.Add("status", o.Status)
	rec.Add("idempotency_key_again", "200, the same order")
	return nil
}

func registerWithServer(r *runner, ctx context.Context, rec *record) error {
	dev, err := proof.VerifyDeviceCert(r.reg.Device)
	if err != nil {
		return err
	}
	r.sp.device = dev.DeviceID
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	fids := slices.Clone(r.fids)
	slices.Sort(fids)
	if err := ch.RegisterWithServer(ctx, r.reg, fids); err != nil {
		return err
	}
	rec.Add("channel", "gm-fs, terminated in the payment TA; server certificate chains to the CA root, name "+serverName)
	rec.Add("device_id", hex.EncodeToString(dev.DeviceID[:]))
	rec.Add("registered", "device→app→scene chain under the device root, bound fingers "+fmt.Sprint(fids))
	return nil
}

func serverChallenge(r *runner, ctx context.Context, rec *record) error {
	sum, err := r.challengeFor(ctx, r.sp.orderID)
	if err != nil {
		return err
	}
	r.sp.sum = sum
	rec.Add("challenge", Hex64(sum.Challenge))
	rec.Add("shown_to_user", fmt.Sprintf("pay %s to %s: %q", money(sum.Amount, sum.Currency), sum.Payee, sum.Text))
	rec.Add("summary_signature", "SM2 by the server's signing certificate: verified")
	return nil
}

func serverFingerprint(r *runner, ctx context.Context, rec *record) error {
	op, err := r.app().Begin(ctx)
	if err != nil {
		return err
	}
	a, err := r.authenticate(ctx, op, r.fingers[0], 10)
	if err != nil {
		return err
	}
	r.sp.op, r.sp.fid = op, a.Event.FingerID
	rec.Add("ta_challenge", Hex64(op))
	rec.Add("fid", a.Event.FingerID)
	rec.Add("onAcquired", a.Acquired)
	return r.sensorIdle(ctx)
}

func serverBooks(r *runner, ctx context.Context, rec *record) error {
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	fb, err := ch.PayOrder(ctx, sceneRef, r.sp.op, r.sp.sum, []byte("demo-pay-1"))
	if err != nil {
		return err
	}
	if fb.Rule != wire.RuleOK || fb.Replayed || fb.EntryID <= 0 || fb.OrderID != r.sp.orderID {
		return fmt.Errorf("feedback %+v, want booked (ok, first time) for order %s", fb, r.sp.orderID)
	}
	r.sp.fb = fb
	rec.Add("statement", "signed and sealed in the payment TA (CHANNEL_SEAL_PAYMENT): the REE never held it")
	rec.Add("server_rules", "chain, signature, payload = order binding, challenge single-use, finger bound, counter")
	rec.Add("rule", fb.Rule.String())
	rec.Add("entry", fb.EntryID)
	return nil
}

func ledgerRow(r *runner, ctx context.Context, rec *record) error {
	var l payserver.LedgerJSON
	if code, err := r.merchantGet(ctx, "/v1/ledger", &l); err != nil || code != http.StatusOK {
		return fmt.Errorf("GET /v1/ledger: %d %v", code, err)
	}
	if len(l.Entries) != 1 {
		return fmt.Errorf("ledger has %d rows, want 1", len(l.Entries))
	}
	e := l.Entries[0]
	if e.OrderID != r.sp.orderID || e.EntryID != r.sp.fb.EntryID || e.Amount != demoOrder.Amount || e.FingerID != r.sp.fid {
		return fmt.Errorf("ledger row %+v, want order %s entry %d amount %d finger %d", e, r.sp.orderID, r.sp.fb.EntryID, demoOrder.Amount, r.sp.fid)
	}
	var o orderJSON
	if code, err := r.merchantGet(ctx, "/v1/orders/"+r.sp.orderID, &o); err != nil || code != http.StatusOK || o.Status != "paid" {
		return fmt.Errorf("GET /v1/orders/%s: %d %+v %v, want paid", r.sp.orderID, code, o, err)
	}
	rec.Add("entry", e.EntryID)
	rec.Add("order", e.OrderID)
	rec.Add("amount", money(e.Amount, e.Currency))
	rec.Add("payee", e.Payee)
	rec.Add("app_scene", e.App+"/"+e.Scene)
	rec.Add("finger", e.FingerID)
	rec.Add("counter", e.Counter)
	rec.Add("statement_sm3", e.StatementHash)
	rec.Add("order_status", o.Status)
	return nil
}

func feedbackShown(r *runner, ctx context.Context, rec *record) error {
	fb := r.sp.fb
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	// A status request (what the app sends after a lost feedback) returns
	// the same booking, marked replayed.
	st, err := ch.OrderStatus(ctx, r.sp.orderID)
	if err != nil {
		return err
	}
	if st.EntryID != fb.EntryID || st.StatementHash != fb.StatementHash || !st.Replayed {
		return fmt.Errorf("status %+v, want the booking %d replayed", st, fb.EntryID)
	}
	rec.Add("verified_by", "payment TA (CHANNEL_OPEN_RECORD: channel MAC, sequence, names this device and user)")
	rec.Add("rule", fb.Rule.String())
	rec.Add("entry", fb.EntryID)
	rec.Add("counter", fb.Counter)
	rec.Add("statement_sm3", hex.EncodeToString(fb.StatementHash[:]))
	rec.Add("status_request", "the same booking, replayed")
	return nil
}

func tamperedAmountRefused(r *runner, ctx context.Context, rec *record) error {
	o, err := r.newOrder(ctx, "demo-order-2", demoOrder)
	if err != nil {
		return err
	}
	sum, err := r.challengeFor(ctx, o.ID)
	if err != nil {
		return err
	}
	bad := sum
	bad.Amount = tamperedAmount
	paid, err := r.touchAndSign(ctx, bad, 11)
	if err != nil {
		return err
	}
	fb, err := r.send(ctx, paid.Signed, sum, "demo-tamper")
	if err != nil {
		return err
	}
	if err := wantRule(fb, wire.RulePayload); err != nil {
		return err
	}
	r.sp.openOrder = sum
	rec.Add("order", money(sum.Amount, sum.Currency))
	rec.Add("signed_binding", money(bad.Amount, bad.Currency)+" (the REE changed the amount)")
	rec.Add("rule", fb.Rule.String())
	rec.Add("booked", "nothing; the order stays open")
	return nil
}

func counterRollbackRefused(r *runner, ctx context.Context, rec *record) error {
	var err error
	// A: the open order's statement, signed first (counter n).
	if r.sp.stmtA, err = r.touchAndSign(ctx, r.sp.openOrder, 12); err != nil {
		return err
	}
	o, err := r.newOrder(ctx, "demo-order-3", orderRequest{Payee: "coffee-7", Amount: 300, Currency: "CNY", Summary: "cookie"})
	if err != nil {
		return err
	}
	if r.sp.sumB, err = r.challengeFor(ctx, o.ID); err != nil {
		return err
	}
	// B: another order's, signed second (counter n+1), booked first.
	if r.sp.stmtB, err = r.touchAndSign(ctx, r.sp.sumB, 13); err != nil {
		return err
	}
	ca, cb := r.sp.stmtA.Statement.Counter, r.sp.stmtB.Statement.Counter
	if ca >= cb {
		return fmt.Errorf("TA counters %d then %d: not increasing", ca, cb)
	}
	if r.sp.fbB, err = r.send(ctx, r.sp.stmtB.Signed, r.sp.sumB, "demo-pay-B"); err != nil {
		return err
	}
	if r.sp.fbB.Rule != wire.RuleOK {
		return fmt.Errorf("statement B: %v, want booked", r.sp.fbB.Rule)
	}
	fb, err := r.send(ctx, r.sp.stmtA.Signed, r.sp.openOrder, "demo-pay-A")
	if err != nil {
		return err
	}
	if err := wantRule(fb, wire.RuleCounter); err != nil {
		return err
	}
	rec.Add("statement_B", fmt.Sprintf("counter %d, booked (entry %d)", cb, r.sp.fbB.EntryID))
	rec.Add("statement_A", fmt.Sprintf("counter %d, sent after B", ca))
	rec.Add("rule", fb.Rule.String())
	return nil
}

func replayedStatementRefused(r *runner, ctx context.Context, rec *record) error {
	// The same request again is a retry: the first result, nothing booked.
	again, err := r.send(ctx, r.sp.stmtB.Signed, r.sp.sumB, "demo-pay-B")
	if err != nil {
		return err
	}
	if again.Rule != wire.RuleOK || !again.Replayed || again.EntryID != r.sp.fbB.EntryID {
		return fmt.Errorf("retry of B: %+v, want the first booking (entry %d) replayed", again, r.sp.fbB.EntryID)
	}
	// The same statement under a new request id: never a second booking
	// (the first one again, or its spent challenge refused).
	dup, err := r.send(ctx, r.sp.stmtB.Signed, r.sp.sumB, "demo-replay-1")
	if err != nil {
		return err
	}
	dupSeen := dup.Rule.String()
	switch {
	case dup.Rule == wire.RuleOK && dup.Replayed && dup.EntryID == r.sp.fbB.EntryID:
		dupSeen = fmt.Sprintf("entry %d again, replayed", dup.EntryID)
	case dup.Rule == wire.RuleChallengeUsed:
	default:
		return fmt.Errorf("B under a new request id: %+v, want the first booking or challenge-used", dup)
	}
	// The captured statement replayed to pay another order for the same
	// payee and amount (seed 003's replay): the binding it signed names
	// B's order and server challenge.
	o, err := r.newOrder(ctx, "demo-order-4", orderRequest{Payee: r.sp.sumB.Payee, Amount: r.sp.sumB.Amount, Currency: r.sp.sumB.Currency, Summary: r.sp.sumB.Text})
	if err != nil {
		return err
	}
	sum, err := r.challengeFor(ctx, o.ID)
	if err != nil {
		return err
	}
	fb, err := r.send(ctx, r.sp.stmtB.Signed, sum, "demo-replay-2")
	if err != nil {
		return err
	}
	if err := wantRule(fb, wire.RulePayload); err != nil {
		return err
	}
	var l payserver.LedgerJSON
	if code, err := r.merchantGet(ctx, "/v1/ledger", &l); err != nil || code != http.StatusOK {
		return fmt.Errorf("GET /v1/ledger: %d %v", code, err)
	}
	if len(l.Entries) != 2 {
		return fmt.Errorf("ledger has %d rows after the failure paths, want 2 (order 1 and B)", len(l.Entries))
	}
	rec.Add("retry_same_request_id", fmt.Sprintf("entry %d again, replayed (idempotent)", again.EntryID))
	rec.Add("same_statement_new_request_id", dupSeen)
	rec.Add("replay_for_another_order", fb.Rule.String())
	rec.Add("rule", fb.Rule.String())
	rec.Add("ledger_rows", len(l.Entries))
	return nil
}
