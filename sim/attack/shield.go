package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/internal/tail"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/keyshare"
	"github.com/fpemu/fpemu/se/middleware"
	"github.com/fpemu/fpemu/se/shieldmsg"
	"github.com/fpemu/fpemu/se/transport"
)

// The shield rows (issue 12; docs/protocol.md §15): the attacker owns the
// REE — the middleware, the share files it can read, the APDU stream —
// and the card and the payment server must hold. The card is its own
// process, as in fpemu's design (`fpemu se --dir DIR --socket PATH`,
// started by Config.SECommand), with its sealed store in the row's
// directory: this package links neither the card (se/card) nor its store
// and speaks to it only in APDUs over its Unix socket. The payment server
// is payserver in process with a SQLite store and a CA in the row's
// directory.

func init() {
	suite = append(suite, shieldPINBrute, shieldOtherPreSubmit, shieldSMReplay, shieldPhishing, shieldFewShares)
}

const shieldUserPIN = "20250601"

// seReadyTimeout bounds a card process's start (its sealed store opened
// or created) until its socket accepts a connection.
const seReadyTimeout = 15 * time.Second

// seStopTimeout is how long a card process may take to stop on SIGTERM
// before it is killed.
const seStopTimeout = 10 * time.Second

// shieldFixture is a personalised card process serving its socket, its
// shares, and optionally the server whose certificate the card pins.
type shieldFixture struct {
	r      *runner
	dir    string
	se     *seProc
	shares []string
	srv    *payserver.Server
	st     store.Store
	cert   []byte
	device proof.DeviceID
}

// seProc is one card process, ended by pid.
type seProc struct {
	cmd    *exec.Cmd
	exited chan error
	stderr *tail.Buffer
}

// cardDir is the card's directory (its key, lock and sealed store).
func (fx *shieldFixture) cardDir() string { return filepath.Join(fx.dir, "card") }

func (fx *shieldFixture) sock() string { return filepath.Join(fx.dir, "se.sock") }

// serve starts the card process (Config.SECommand) on the card's
// directory and socket and waits until the socket accepts a connection:
// the file exists from bind, before listen, so its presence is not
// readiness. A process that exits first, or is not ready within
// seReadyTimeout, is an error naming its stderr's tail.
func (fx *shieldFixture) serve(ctx context.Context) error {
	cfg := fx.r.cfg
	if cfg.SECommand == nil {
		return errors.New("Config.SECommand is not set")
	}
	cmd := cfg.SECommand(fx.cardDir(), fx.sock())
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The card dies with the attack process even if a cleanup is skipped.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &seProc{cmd: cmd, exited: make(chan error, 1), stderr: tail.New(64 << 10)}
	cmd.Stderr = p.stderr
	if cfg.Stderr != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, cfg.Stderr)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start card: %w", err)
	}
	go func() { p.exited <- cmd.Wait() }()
	fx.se = p
	deadline := time.NewTimer(seReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("unix", fx.sock()); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("card exited before ready: %v; stderr: %s", err, stderrEnd(p.stderr.String()))
		case <-deadline.C:
			return fmt.Errorf("card socket not accepting within %v; stderr: %s", seReadyTimeout, stderrEnd(p.stderr.String()))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// restart is a card power loss: the card process is killed by its pid
// (SIGKILL: no shutdown path runs, as when the sticker loses power) and
// started again from its EEPROM, the sealed store.
func (fx *shieldFixture) restart(ctx context.Context) error {
	fx.stop(syscall.SIGKILL)
	return fx.serve(ctx)
}

// close stops the card process at teardown (SIGTERM, SIGKILL after
// seStopTimeout).
func (fx *shieldFixture) close() { fx.stop(syscall.SIGTERM) }

// stop ends the card process by its pid with sig and waits for it; a
// process that lingers after SIGTERM is killed. The socket a killed card
// leaves behind is removed (the card never listens over an existing
// file).
func (fx *shieldFixture) stop(sig syscall.Signal) {
	p := fx.se
	if p == nil {
		return
	}
	fx.se = nil
	_ = syscall.Kill(p.cmd.Process.Pid, sig)
	select {
	case <-p.exited:
	case <-time.After(seStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_ = os.Remove(fx.sock())
}

// dial opens a transport connection (one card session).
func (fx *shieldFixture) dial(ctx context.Context) (*transport.Client, error) {
	return transport.Dial(ctx, fx.sock())
}

// open is the middleware over a fresh connection, with the shares given.
func (fx *shieldFixture) open(ctx context.Context, shares []string) (*middleware.Card, *transport.Client, error) {
	cl, err := fx.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := middleware.OpenWith(cl, shares, middleware.OpenOptions{Combine: fx.r.cfg.ShieldCombine})
	if err != nil {
		_ = cl.Close()
		return nil, nil, err
	}
	return m, cl, nil
}

// shieldSetup personalises a card 2-of-3 with a changed user PIN and,
// withServer, a CA, a server whose certificate is pinned, the card's
// key and CA certificate, and a login of the card for a device.
func shieldSetup(withServer bool) func(*runner, context.Context, *tally) *shieldFixture {
	return func(r *runner, ctx context.Context, t *tally) *shieldFixture {
		fx := &shieldFixture{r: r, dir: r.dir}
		r.cleanup(fx.close)
		if !t.must("card", fx.serve(ctx)) {
			return nil
		}
		for _, d := range []string{"sandbox", "keystore", "backup"} {
			if !t.must("share directory", os.Mkdir(filepath.Join(r.dir, d), 0o700)) {
				return nil
			}
			fx.shares = append(fx.shares, filepath.Join(r.dir, d, "sm.share"))
		}
		cl, err := fx.dial(ctx)
		if !t.must("dial card", err) {
			return nil
		}
		err = middleware.Personalise(cl, cardproto.DefaultAdmin, fx.shares, 2, nil)
		_ = cl.Close()
		if !t.must("personalise", err) {
			return nil
		}
		m, cl, err := fx.open(ctx, fx.shares)
		if !t.must("open", err) {
			return nil
		}
		defer cl.Close()
		defer m.Close()
		if !t.must("change PIN", m.ChangePIN(cardproto.TransportPIN, shieldUserPIN)) || !withServer {
			return fx
		}
		caDir := filepath.Join(r.dir, "ca")
		authority, err := ca.Init(caDir, ca.InitOptions{})
		if !t.must("CA", err) {
			return nil
		}
		_ = authority.Close()
		creds, pool, err := payserver.IssueCredentials(ctx, caDir, "pay.fpemu.test")
		if !t.must("server credentials", err) {
			return nil
		}
		fx.st, err = payserver.OpenStore(ctx, "sqlite:"+filepath.Join(r.dir, "server.db"), store.Options{})
		if !t.must("server store", err) {
			return nil
		}
		r.cleanup(func() { _ = fx.st.Close() })
		fx.srv, err = payserver.New(payserver.Config{Store: fx.st, Roots: verify.NewRoots(proof.PublicKey{4}), Logger: r.root,
			Channel: channel.ServerConfig{Credentials: creds, Roots: pool}})
		if !t.must("server", err) || !t.must("pin server certificate", m.PinServerCertificate(cardproto.DefaultAdmin, creds.SignCert.Raw)) ||
			!t.must("login", m.Login(shieldUserPIN)) {
			return nil
		}
		if _, err := m.GenerateKey(); !t.must("keygen", err) {
			return nil
		}
		csr, err := m.CertRequest()
		if !t.must("PKCS#10", err) {
			return nil
		}
		authority, err = ca.Open(caDir, ca.Options{})
		if !t.must("CA", err) {
			return nil
		}
		// the card is issued for the device it logs in as (§15.6)
		_, _ = rand.Read(fx.device[:])
		iss, err := authority.Issue(ctx, ca.Request{CSR: csr, Profile: ca.ProfileShield, Device: hex.EncodeToString(fx.device[:])})
		_ = authority.Close()
		if !t.must("issue", err) {
			return nil
		}
		p7, err := iss.PKCS7()
		if !t.must("PKCS#7", err) || !t.must("import certificate", m.ImportCertificate(p7)) {
			return nil
		}
		if fx.cert, err = m.Certificate(); !t.must("certificate", err) {
			return nil
		}
		lc, err := fx.srv.ShieldLoginBegin(ctx, fx.device)
		if !t.must("login begin", err) {
			return nil
		}
		sig, err := m.ServerLogin(lc.Random, lc.Signature)
		if !t.must("card login", err) {
			return nil
		}
		_, err = fx.srv.ShieldLoginFinish(ctx, lc.Random, fx.cert, sig)
		if !t.must("login finish", err) {
			return nil
		}
		return fx
	}
}

var shieldPINBrute = attack{
	Info: Info{
		ID:      "shield-pin-brute",
		Attack:  "the REE tries user PINs on the shield card until it signs, and again after a card restart",
		Defence: "the card spends a try durably before comparing: 63C5…63C0, then 6983 for every VERIFY, the right PIN included, also after power loss",
		Want:    Rejected,
	},
	run: given(shieldSetup(false), func(ctx context.Context, r *runner, fx *shieldFixture, t *tally) {
		m, cl, err := fx.open(ctx, fx.shares)
		if !t.must("open", err) {
			return
		}
		// Control: the right PIN works before the attack.
		if !t.must("control: right PIN", m.Login(shieldUserPIN)) || !t.must("logout", m.Logout()) {
			return
		}
		for i := range cardproto.MaxUserTries {
			guess := fmt.Sprintf("%08d", 11111111+i)
			err := m.Login(guess)
			var pe *middleware.PINError
			switch {
			case err == nil:
				t.breachf("PIN guess %d: accepted", i+1)
			case errors.As(err, &pe) && pe.TriesLeft == cardproto.MaxUserTries-1-i:
				t.heldf("guess %d → 63C%X", i+1, pe.TriesLeft)
			default:
				t.brokef("guess %d: unexpected answer %v", i+1, err)
			}
		}
		t.refused("right PIN after 6 failures", m.Login(shieldUserPIN), middleware.ErrBlocked)
		m.Close()
		_ = cl.Close()
		if !t.must("card restart", fx.restart(ctx)) {
			return
		}
		m, cl, err = fx.open(ctx, fx.shares)
		if !t.must("open after restart", err) {
			return
		}
		defer cl.Close()
		defer m.Close()
		t.refused("right PIN after a card restart", m.Login(shieldUserPIN), middleware.ErrBlocked)
		t.summarize("6 wrong PINs → 63C5…63C0; the right PIN → 6983, also after a card restart")
	}),
}

var shieldOtherPreSubmit = attack{
	Info: Info{
		ID:      "shield-other-presubmit",
		Attack:  "the REE presents the card's confirmation of one pre-submit as the confirmation of another, and asks the card to sign a pre-submit under another's server signature",
		Defence: "the server verifies the card signature over exactly the pre-submit and nonce it issued; the card signs only what the pinned server signed",
		Want:    Rejected,
	},
	run: given(shieldSetup(true), func(ctx context.Context, r *runner, fx *shieldFixture, t *tally) {
		m, cl, err := fx.open(ctx, fx.shares)
		if !t.must("open", err) {
			return
		}
		defer cl.Close()
		defer m.Close()
		small, _, err := fx.st.CreateOrder(ctx, store.NewOrder{IdempotencyKey: "small", Payee: "tea shop", Amount: 100, Currency: "CNY", Summary: "tea"})
		if !t.must("order", err) {
			return
		}
		large, _, err := fx.st.CreateOrder(ctx, store.NewOrder{IdempotencyKey: "large", Payee: "attacker", Amount: 5000000, Currency: "CNY", Summary: "gold"})
		if !t.must("order", err) {
			return
		}
		a, err := fx.srv.ShieldPreSubmit(ctx, small.ID, fx.device)
		if !t.must("pre-submit A", err) {
			return
		}
		b, err := fx.srv.ShieldPreSubmit(ctx, large.ID, fx.device)
		if !t.must("pre-submit B", err) {
			return
		}
		sigA, err := m.ConfirmPreSubmit(shieldUserPIN, a.PreSubmit, a.Nonce, a.Signature)
		if !t.must("card confirms A", err) {
			return
		}
		t.refused("A's card signature as B's confirmation → server", fx.srv.ShieldConfirm(ctx, b.ID, b.Nonce, sigA), payserver.ErrShieldSignature)
		t.refused("A's card signature with A's nonce for B → server", fx.srv.ShieldConfirm(ctx, b.ID, a.Nonce, sigA), payserver.ErrShieldSignature)
		_, err = m.ConfirmPreSubmit(shieldUserPIN, b.PreSubmit, a.Nonce, a.Signature)
		t.refused("B under A's server signature → card", err, middleware.ErrServerSignature)
		if err := fx.srv.ShieldConfirmed(ctx, b.ID, large.ID, fx.device); err == nil {
			t.breachf("B confirmed without the card signing B")
		}
		// Control: A's confirmation is accepted for A.
		if !t.must("control: A confirmed", fx.srv.ShieldConfirm(ctx, a.ID, a.Nonce, sigA)) ||
			!t.must("control: A checked", fx.srv.ShieldConfirmed(ctx, a.ID, small.ID, fx.device)) {
			return
		}
		t.summarize("the server and the card refused a confirmation of another pre-submit; A's own confirmation was accepted")
	}),
}

// apduRecorder is a Transmitter that keeps the last command sent.
type apduRecorder struct {
	cl   *transport.Client
	last []byte
}

func (r *apduRecorder) Transmit(cmd []byte) ([]byte, error) {
	r.last = append([]byte(nil), cmd...)
	return r.cl.Transmit(cmd)
}

var shieldSMReplay = attack{
	Info: Info{
		ID:      "shield-sm-replay",
		Attack:  "the REE replays a protected VERIFY APDU it saw on the secure-messaging channel",
		Defence: "the MAC covers the send sequence counter: a replayed APDU is 6988 and ends the session",
		Want:    Rejected,
	},
	run: given(shieldSetup(false), func(ctx context.Context, r *runner, fx *shieldFixture, t *tally) {
		cl, err := fx.dial(ctx)
		if !t.must("dial", err) {
			return
		}
		defer cl.Close()
		rec := &apduRecorder{cl: cl}
		m, err := middleware.Open(rec, fx.shares, nil)
		if !t.must("open", err) {
			return
		}
		defer m.Close()
		// Control: the protected VERIFY is accepted once.
		if !t.must("control: protected VERIFY", m.Login(shieldUserPIN)) {
			return
		}
		out, err := cl.Transmit(rec.last)
		if !t.must("replay", err) {
			return
		}
		resp, err := apdu.ParseResponse(out)
		if !t.must("replay response", err) {
			return
		}
		switch resp.SW {
		case 0x6988:
			t.heldf("replayed VERIFY → 6988")
		case apdu.SWOK:
			t.breachf("replayed VERIFY: accepted (9000)")
		default:
			t.brokef("replayed VERIFY: unexpected %s", resp.SW)
		}
		// The card ended the session: the next protected APDU fails too.
		if _, err := m.SignTransaction([]byte("after the replay")); err == nil {
			t.breachf("signing after the replay: accepted")
		} else {
			t.heldf("the session ended after the replay")
		}
		t.summarize("the replayed protected APDU was 6988 and ended the session")
	}),
}

var shieldPhishing = attack{
	Info: Info{
		ID:      "shield-phishing-login",
		Attack:  "a phishing server signs a login random with its own SM2 key and asks the card to sign it back",
		Defence: "the card verifies the random's signature under the server certificate pinned at personalisation (6300)",
		Want:    Rejected,
	},
	run: given(shieldSetup(true), func(ctx context.Context, r *runner, fx *shieldFixture, t *tally) {
		m, cl, err := fx.open(ctx, fx.shares)
		if !t.must("open", err) {
			return
		}
		defer cl.Close()
		defer m.Close()
		if !t.must("login", m.Login(shieldUserPIN)) {
			return
		}
		k, err := sm2.GenerateKey(rand.Reader)
		if !t.must("phishing key", err) {
			return
		}
		random := make([]byte, 32)
		_, _ = rand.Read(random)
		sig, err := k.Sign(rand.Reader, shieldmsg.LoginMessage(random), sm2.DefaultSM2SignerOpts)
		if !t.must("phishing signature", err) {
			return
		}
		_, err = m.ServerLogin(random, sig)
		t.refused("random signed by another key → card", err, middleware.ErrServerSignature)
		// Control: the genuine server's random is signed and accepted.
		lc, err := fx.srv.ShieldLoginBegin(ctx, fx.device)
		if !t.must("control: login begin", err) {
			return
		}
		csig, err := m.ServerLogin(lc.Random, lc.Signature)
		if !t.must("control: card login", err) {
			return
		}
		_, err = fx.srv.ShieldLoginFinish(ctx, lc.Random, fx.cert, csig)
		if !t.must("control: login finish", err) {
			return
		}
		t.summarize("the card refused the phishing server's random (6300) and signed the pinned server's")
	}),
}

var shieldFewShares = attack{
	Info: Info{
		ID:      "shield-few-shares",
		Attack:  "malware holding only the app sandbox's share (1 of a 2-of-3 split) tries to open secure messaging",
		Defence: "keyshare.Combine refuses fewer than k verified shares (ErrTooFew) before any APDU uses a key",
		Want:    Rejected,
	},
	run: given(shieldSetup(false), func(ctx context.Context, r *runner, fx *shieldFixture, t *tally) {
		_, cl, err := fx.open(ctx, fx.shares[:1])
		if cl != nil {
			_ = cl.Close()
		}
		t.refused("one share of 2-of-3 → middleware", err, keyshare.ErrTooFew)
		// Control: two shares open the channel.
		m, cl, err := fx.open(ctx, fx.shares[:2])
		if !t.must("control: two shares", err) {
			return
		}
		m.Close()
		_ = cl.Close()
		t.summarize("one share was refused (ErrTooFew); two opened the channel")
	}),
}
