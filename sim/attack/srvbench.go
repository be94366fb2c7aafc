package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/serverproc"
	"github.com/fpemu/fpemu/payserver/wire"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The server rows' bench (issue 11; docs/protocol.md §14): a device whose
// attacker plays the HAL (finger A enrolled, a scene key registered with
// the payment TA), provisioned with the trust anchors of a real payment
// CA (payserver/ca in the row's directory), its channel keys certified by
// that CA from the TA's own key requests, and one or two `fpemu server`
// processes (Config.ServerCommand) on one SQLite file, whose device roots
// hold exactly this device's attestation key. The attacker is the payment
// app: it carries the TA's channel over TCP and every statement the TA
// signs, and may keep, replay, redirect or edit them.

// srvReadyTimeout bounds a server process's start (CA issuing, store
// migrations).
const srvReadyTimeout = 30 * time.Second

// srvStopTimeout is how long a server may take to stop on SIGTERM before
// it is killed.
const srvStopTimeout = 10 * time.Second

// startServer starts a server process with the bench's arguments and
// waits for its readiness line (serverproc.Start, at most
// srvReadyTimeout); the runner stops it at teardown (SIGTERM, then
// SIGKILL after srvStopTimeout).
func (r *runner) startServer(ctx context.Context, args ...string) (*serverproc.Proc, error) {
	if r.cfg.ServerCommand == nil {
		return nil, errors.New("Config.ServerCommand is not set")
	}
	cmd := r.cfg.ServerCommand(append([]string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The server dies with the attack process even if a cleanup is
	// skipped (Go does not end the starting thread while it runs).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	ctx, cancel := context.WithTimeout(ctx, srvReadyTimeout)
	defer cancel()
	p, err := serverproc.Start(ctx, cmd, serverproc.Options{StderrTail: stderrQuote})
	if p != nil {
		r.cleanup(func() { _ = p.Stop(srvStopTimeout) })
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// stderrQuote is how much of a child's stderr a finding quotes (tail).
const stderrQuote = 600

// stderrEnd is the end of s a finding quotes.
func stderrEnd(s string) string {
	if len(s) > stderrQuote {
		return "…" + s[len(s)-stderrQuote:]
	}
	return s
}

// srvBench is the device, its payment app's state and the servers.
type srvBench struct {
	*payFixture
	reg     drive.Registration
	fingers []uint32
	caDir   string
	args    []string // the server arguments (store, CA, device roots)
	srv     *serverproc.Proc
}

// serverBench boots the bench with one server.
func (r *runner) serverBench(ctx context.Context, t *tally) *srvBench {
	return r.serverBenchArgs(ctx, t)
}

// serverBenchArgs boots the bench with one server started with extra
// arguments after the store, CA and device roots (e.g. --policy and
// --otp-key for the factor rows).
func (r *runner) serverBenchArgs(ctx context.Context, t *tally, extra ...string) *srvBench {
	b := &srvBench{caDir: filepath.Join(r.dir, "ca")}
	authority, err := ca.Init(b.caDir, ca.InitOptions{})
	if !t.must("payment CA", err) {
		return nil
	}
	root := authority.Root().Raw
	_ = authority.Close()
	if r.anchors, err = (payproto.TrustAnchors{ServerName: chanServerName, Roots: [][]byte{root}}).Marshal(); !t.must("trust anchors", err) {
		return nil
	}
	if b.payFixture, b.reg = r.payScene(ctx, t, simdev.RestartPolicy{}); b.payFixture == nil {
		return nil
	}
	b.fingers = []uint32{b.fid}
	if !t.must("certify the TA's channel keys", b.certifyChannel(ctx, b.app.Session)) {
		return nil
	}
	dev, err := proof.VerifyDeviceCert(b.reg.Device)
	if !t.must("device certificate", err) {
		return nil
	}
	rootPEM, err := dev.PublicKey.PEM()
	if !t.must("device root", err) {
		return nil
	}
	roots := filepath.Join(r.dir, "device-roots.pem")
	if !t.must("device roots file", os.WriteFile(roots, rootPEM, 0o600)) {
		return nil
	}
	b.args = append([]string{"--db", "sqlite:" + filepath.Join(r.dir, "server.db"), "--ca", b.caDir, "--device-roots", roots}, extra...)
	if b.srv, err = r.startServer(ctx, b.args...); !t.must("fpemu server", err) {
		return nil
	}
	ch, err := b.dial(ctx, b.srv)
	if !t.must("channel to the server", err) {
		return nil
	}
	if !t.must("register with the server", ch.RegisterWithServer(ctx, b.reg, b.fingers)) {
		return nil
	}
	return b
}

// certifyChannel has the CA issue the TA's dual channel certificates from
// the TA's key requests and installs them (what the app does at
// provisioning, docs/protocol.md §13).
func (b *srvBench) certifyChannel(ctx context.Context, pay rpc.Invoker) error {
	signCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, pay)
	if err != nil {
		return err
	}
	encCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeyEnc}.Execute(ctx, pay)
	if err != nil {
		return err
	}
	authority, err := ca.Open(b.caDir, ca.Options{})
	if err != nil {
		return err
	}
	defer authority.Close()
	iss, err := authority.Issue(ctx, ca.Request{CSR: signCSR, EncCSR: encCSR, Profile: ca.ProfileDevice, Usage: ca.UsageDual})
	if err != nil {
		return err
	}
	if len(iss.Certs) != 2 {
		return fmt.Errorf("CA issued %d certificates, want 2", len(iss.Certs))
	}
	if err := (payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: iss.Certs[0].Raw}).Execute(ctx, pay); err != nil {
		return err
	}
	return payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: iss.Certs[1].Raw}.Execute(ctx, pay)
}

// dial opens a TCP connection to srv and has the TA establish its channel
// over it (gm-fs). The connection closes at teardown.
func (b *srvBench) dial(ctx context.Context, srv *serverproc.Proc) (*drive.Channel, error) {
	conn, err := net.DialTimeout("tcp", srv.Channel, chanIOTimeout)
	if err != nil {
		return nil, err
	}
	b.dev.r.cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * chanIOTimeout))
	return drive.Connect(ctx, b.app.Session, conn, chanwire.ProfileGMFS)
}

// order has the merchant create an order on srv's HTTP API and returns
// its id.
func (b *srvBench) order(ctx context.Context, srv *serverproc.Proc, key, payee string, amount int64, text string) (string, error) {
	o, created, err := payserver.CreateOrder(ctx, srv.HTTP, key, payserver.OrderRequest{Payee: payee, Amount: amount, Currency: "CNY", Summary: text})
	if err != nil {
		return "", err
	}
	if !created || o.ID == "" {
		return "", fmt.Errorf("create order: not a new order (%q)", o.ID)
	}
	return o.ID, nil
}

// ledger reads srv's whole ledger (the rows of one bench are few).
func (b *srvBench) ledger(ctx context.Context, srv *serverproc.Proc) ([]payserver.EntryJSON, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+"/v1/ledger", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ledger: HTTP %d", resp.StatusCode)
	}
	var l payserver.LedgerJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&l); err != nil {
		return nil, err
	}
	return l.Entries, nil
}

// rowsOf counts ledger rows of order.
func rowsOf(entries []payserver.EntryJSON, order string) int {
	n := 0
	for _, e := range entries {
		if e.OrderID == order {
			n++
		}
	}
	return n
}

// touch is the user's part of a payment: BEGIN_PAYMENT, a match of finger
// A for its challenge, the auth result delivered to the payment TA. It
// returns the TA's challenge, now authorised for one signature.
func (b *srvBench) touch(ctx context.Context) (uint64, error) {
	op, err := b.app.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("BEGIN_PAYMENT: %w", err)
	}
	res, err := b.authResult(ctx, op)
	if err != nil {
		return 0, err
	}
	if err := deliver(ctx, b.app.Session, res); err != nil {
		return 0, fmt.Errorf("deliver the auth result: %w", err)
	}
	return op, nil
}

// statement is an honest signature by the TA over sum's order binding,
// after a fresh touch: what the app holds after SIGN_PAYMENT.
func (b *srvBench) statement(ctx context.Context, sum wire.Summary) ([]byte, error) {
	op, err := b.touch(ctx)
	if err != nil {
		return nil, err
	}
	payload, err := wire.Binding(sum)
	if err != nil {
		return nil, err
	}
	return payproto.SignPayment{Ref: sceneRef, Challenge: op, Payload: payload}.Execute(ctx, b.app.Session)
}

// signedOrder creates an order, asks for its challenge over ch and has the
// TA sign it: the order id, its summary and the statement.
func (b *srvBench) signedOrder(ctx context.Context, ch *drive.Channel, key, payee string, amount int64) (string, wire.Summary, []byte, error) {
	id, err := b.order(ctx, b.srv, key, payee, amount, "goods "+key)
	if err != nil {
		return "", wire.Summary{}, nil, err
	}
	_, sum, err := ch.ServerChallenge(ctx, id)
	if err != nil {
		return "", wire.Summary{}, nil, fmt.Errorf("challenge: %w", err)
	}
	st, err := b.statement(ctx, sum)
	return id, sum, st, err
}

// reqID is a fresh request id.
func reqID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// refusedRule judges a payment probe that the server must refuse with
// one of rules: a booked Feedback is a breach (a Replayed one is not: it
// books nothing), a ServerRefused with another rule is a failure to
// judge.
func refusedRule(t *tally, what string, fb wire.Feedback, err error, rules ...wire.Rule) string {
	var sr *drive.ServerRefused
	rule := fb.Rule
	if errors.As(err, &sr) {
		rule = sr.Rule
	} else if err != nil {
		t.brokef("%s: %s", what, describe(err))
		return describe(err)
	}
	for _, w := range rules {
		if rule == w {
			t.heldf("%s → %s", what, rule)
			return rule.String()
		}
	}
	if rule == wire.RuleOK {
		t.breachf("%s: booked (entry %d, replayed %v)", what, fb.EntryID, fb.Replayed)
	} else {
		t.brokef("%s: refused with %s, want %v", what, rule, rules)
	}
	return rule.String()
}

// refusedRegistration judges a registration probe's Result: one of rules
// held, OK is a breach, anything else could not be judged.
func refusedRegistration(t *tally, what string, res wire.Result, rules ...wire.Rule) string {
	if res.Rule == wire.RuleOK {
		t.breachf("%s: registered", what)
		return res.Rule.String()
	}
	return refusedRule(t, what, wire.Feedback{Rule: res.Rule}, nil, rules...)
}

// booked is a control: the payment must be booked, not a replay.
func mustBook(t *tally, what string, fb wire.Feedback, err error) bool {
	if !t.must(what, err) {
		return false
	}
	if fb.Rule != wire.RuleOK || fb.Replayed || fb.EntryID <= 0 {
		t.brokef("%s: %s (replayed %v, entry %d)", what, fb.Rule, fb.Replayed, fb.EntryID)
		return false
	}
	return true
}

// otherPhone is the attacker's own device as the payment CA knows it: SM2
// dual channel keys certified for another device id. It speaks the
// channel in this process (the attacker holds its keys).
type otherPhone struct {
	id    proof.DeviceID
	creds *channel.SM2Credentials
}

// newOtherPhone has the real CA certify fresh keys for a random device id.
func (b *srvBench) newOtherPhone(ctx context.Context) (*otherPhone, error) {
	var id proof.DeviceID
	_, _ = rand.Read(id[:])
	return b.newPhoneAs(ctx, id)
}

// newPhoneAs has the real CA certify fresh channel keys for device id: a
// phone the attacker owns, whose channel names id.
func (b *srvBench) newPhoneAs(ctx context.Context, id proof.DeviceID) (*otherPhone, error) {
	cn := hex.EncodeToString(id[:])
	creds, err := dualCredentials(func(sk, ek *sm2.PrivateKey) (*smx509.Certificate, *smx509.Certificate, error) {
		scsr, err := ca.NewCSR(rand.Reader, sk, ca.CSRTemplate{CommonName: cn})
		if err != nil {
			return nil, nil, err
		}
		ecsr, err := ca.NewCSR(rand.Reader, ek, ca.CSRTemplate{CommonName: cn})
		if err != nil {
			return nil, nil, err
		}
		authority, err := ca.Open(b.caDir, ca.Options{})
		if err != nil {
			return nil, nil, err
		}
		defer authority.Close()
		iss, err := authority.Issue(ctx, ca.Request{CSR: scsr, EncCSR: ecsr, Profile: ca.ProfileDevice, Usage: ca.UsageDual})
		if err != nil {
			return nil, nil, err
		}
		return iss.Certs[0], iss.Certs[1], nil
	})
	if err != nil {
		return nil, err
	}
	return &otherPhone{id: id, creds: creds}, nil
}

// phoneChannel is the other phone's established channel to a server.
type phoneChannel struct {
	p    *otherPhone
	c    *channel.Client
	conn net.Conn
}

// connect runs the other phone's gm-fs handshake with srv.
func (o *otherPhone) connect(b *srvBench, srv *serverproc.Proc) (*phoneChannel, error) {
	pool, err := payserver.ReadRoots(filepath.Join(b.caDir, ca.RootFile))
	if err != nil {
		return nil, err
	}
	c, err := channel.NewClient(channel.ClientConfig{Profile: chanwire.ProfileGMFS, Credentials: o.creds, Roots: pool, ServerName: chanServerName})
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", srv.Channel, chanIOTimeout)
	if err != nil {
		return nil, err
	}
	b.dev.r.cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * chanIOTimeout))
	msg, err := c.Open()
	for err == nil {
		if _, err = conn.Write(msg); err != nil {
			break
		}
		if c.Established() {
			return &phoneChannel{p: o, c: c, conn: conn}, nil
		}
		var in []byte
		if in, err = drive.ReadMessage(conn); err != nil {
			break
		}
		var est bool
		msg, est, err = c.Continue(in)
		if err == nil && est && msg == nil {
			return &phoneChannel{p: o, c: c, conn: conn}, nil
		}
	}
	return nil, err
}

// send seals custom as the other phone and sends it.
func (pc *phoneChannel) send(custom []byte) error {
	rec, err := pc.c.Seal(chanwire.AppMessage{DeviceID: []byte(hex.EncodeToString(pc.p.id[:])), UserID: []byte("0"), Custom: custom})
	if err != nil {
		return err
	}
	_, err = pc.conn.Write(rec)
	return err
}

func (pc *phoneChannel) receive() ([]byte, error) {
	rec, err := drive.ReadMessage(pc.conn)
	if err != nil {
		return nil, err
	}
	m, err := pc.c.OpenRecord(rec)
	if err != nil {
		return nil, err
	}
	return m.Custom, nil
}

// register sends r as the other phone and reads the server's result; ok
// is false when a step failed (the tally says which).
func (pc *phoneChannel) register(t *tally, r wire.Register) (res wire.Result, ok bool) {
	m, err := r.Marshal()
	if !t.must("register message", err) || !t.must("send registration", pc.send(m)) {
		return res, false
	}
	ans, err := pc.receive()
	if !t.must("registration answer", err) {
		return res, false
	}
	res, err = wire.ParseResult(ans)
	return res, t.must("registration result", err)
}
