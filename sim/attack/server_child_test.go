package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/canary"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
)

// runServerChild is the test binary as `fpemu server` (the flags the srv-*
// rows pass): the same payserver, store and CA calls as cmd/fpemu's
// server, built here because a test binary cannot run cmd/fpemu.
// weakening, if not "", makes it a canary: the store wrapped in a double
// (counter, otp-forget, no-single-booking), the policy dropped
// (no-policy), or one stateless check skipped through payserver/canary
// (no-binding, no-signature, no-identity, no-roots).
func runServerChild(args []string, weakening string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	httpAddr := fs.String("http", "", "")
	_ = fs.String("log-level", "", "")
	db := fs.String("db", "", "")
	caDir := fs.String("ca", "", "")
	rootsFile := fs.String("device-roots", "", "")
	policyFile := fs.String("policy", "", "")
	defaultTier := fs.String("default-tier", "standard", "")
	otpKeyFile := fs.String("otp-key", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rb, err := os.ReadFile(*rootsFile)
	if err != nil {
		return err
	}
	roots, err := verify.ParseRoots(rb)
	if err != nil {
		return err
	}
	creds, pool, err := payserver.IssueCredentials(ctx, *caDir, chanServerName)
	if err != nil {
		return err
	}
	st, err := payserver.OpenStore(ctx, *db, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	factors, err := childFactors(*policyFile, *defaultTier, *otpKeyFile)
	if err != nil {
		return err
	}
	switch weakening {
	case "":
	case "counter":
		st = counterBlind{st}
	case "otp-forget":
		st = otpForgetful{st}
	case "no-policy":
		factors.Policy = nil
	case "no-single-booking":
		st = forgetfulLedger{st}
	case "no-binding", "no-signature", "no-identity", "no-roots":
		skip := map[string]canary.Check{"no-binding": canary.SkipBinding, "no-signature": canary.SkipSignature,
			"no-identity": canary.SkipIdentity, "no-roots": canary.SkipRoots}[weakening]
		if err := canary.Weaken(skip); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown weakening %q", weakening)
	}
	srv, err := payserver.New(payserver.Config{Store: st, Roots: roots, Logger: zap.NewNop(), Factors: factors,
		Channel: channel.ServerConfig{Credentials: creds, Roots: pool}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.MerchantHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hln) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeChannel(ctx, ln) }()
	fmt.Printf("ready channel=%s http=%s\n", ln.Addr(), hln.Addr())
	err = <-errc
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// counterBlind is the srv-counter-rollback canary: a store that raises a
// statement's counter to the key's next value before booking, so the
// counter rule never refuses (a server that does not keep the counter
// monotonic).
type counterBlind struct{ store.Store }

func (s counterBlind) Book(ctx context.Context, b store.Booking) (store.Receipt, error) {
	if k, err := s.Key(ctx, b.Key); err == nil && b.Counter <= k.Counter {
		b.Counter = k.Counter + 1
	}
	return s.Store.Book(ctx, b)
}

// forgetfulLedger is the canary of srv-replay, srv-challenge-reuse and
// srv-double-spend: a store that keeps no booking state. A verified
// statement the real store would not book again — a replay of a booked
// one, one over a used or foreign challenge, a second payment of a paid
// order, a counter not above the key's — is booked anyway as a new
// ledger row, charged on a twin of its order (same payee, amount,
// currency and text; the real store books one row per order) under a
// fresh challenge and the key's next counter. Receipts and the ledger
// name the original order, so the rows see what a server without single
// booking would show: a second entry for the order.
type forgetfulLedger struct{ store.Store }

// twinPrefix starts the idempotency key of a twin order; the original
// order id follows it.
const twinPrefix = "canary-twin:"

func (s forgetfulLedger) Book(ctx context.Context, b store.Booking) (store.Receipt, error) {
	rc, err := s.Store.Book(ctx, b)
	stateful := err != nil && (errors.Is(err, store.ErrOrderPaid) || errors.Is(err, store.ErrChallengeUsed) ||
		errors.Is(err, store.ErrChallengeMismatch) || errors.Is(err, store.ErrCounter))
	if !stateful && !(err == nil && rc.Replayed) {
		return rc, err
	}
	o, err := s.Order(ctx, b.OrderID)
	if err != nil {
		return store.Receipt{}, err
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	twin, _, err := s.CreateOrder(ctx, store.NewOrder{IdempotencyKey: fmt.Sprintf("%s%s:%x", twinPrefix, o.ID, nonce),
		Payee: o.Payee, Amount: o.Amount, Currency: o.Currency, Summary: o.Summary})
	if err != nil {
		return store.Receipt{}, err
	}
	ch, err := s.IssueChallenge(ctx, twin.ID, b.Key.Device)
	if err != nil {
		return store.Receipt{}, err
	}
	k, err := s.Key(ctx, b.Key)
	if err != nil {
		return store.Receipt{}, err
	}
	t := b
	t.OrderID, t.Challenge, t.Counter = twin.ID, ch.Value, max(b.Counter, k.Counter+1)
	t.Amount, t.Currency, t.Payee = ch.Amount, ch.Currency, ch.Payee
	t.RequestID = nonce[:]
	t.StatementHash = proof.PayloadHash(append(b.StatementHash[:], twin.ID...))
	rc, err = s.Store.Book(ctx, t)
	if err != nil {
		return store.Receipt{}, err
	}
	rc.OrderID, rc.RequestID, rc.StatementHash = b.OrderID, b.RequestID, b.StatementHash
	return rc, nil
}

// Ledger names a twin's row by the order it was charged for.
func (s forgetfulLedger) Ledger(ctx context.Context, after int64, limit int) ([]store.Receipt, error) {
	rows, err := s.Store.Ledger(ctx, after, limit)
	for i, r := range rows {
		if o, oerr := s.Order(ctx, r.OrderID); oerr == nil {
			if orig, ok := strings.CutPrefix(o.IdempotencyKey, twinPrefix); ok {
				rows[i].OrderID, _, _ = strings.Cut(orig, ":")
			}
		}
	}
	return rows, err
}

// childFactors is cmd/fpemu's --policy, --default-tier and --otp-key for
// the child (the key file holds 32 hex digits).
func childFactors(policyFile, defaultTier, otpKeyFile string) (payserver.Factors, error) {
	f := payserver.Factors{DefaultTier: defaultTier}
	if policyFile != "" {
		b, err := os.ReadFile(policyFile)
		if err != nil {
			return f, err
		}
		if f.Policy, err = policy.Parse(b); err != nil {
			return f, err
		}
	}
	if otpKeyFile != "" {
		b, err := os.ReadFile(otpKeyFile)
		if err != nil {
			return f, err
		}
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		clear(b)
		if err != nil {
			return f, fmt.Errorf("--otp-key: not hex")
		}
		defer clear(key)
		if f.Sealer, err = otp.NewSealer(key); err != nil {
			return f, err
		}
	}
	return f, nil
}

// otpForgetful is the factor-otp-* canary: a store that accepts every
// one-time-code step without recording it, so a spent or older code
// passes again (a server that forgets the last accepted OTP step).
type otpForgetful struct{ store.Store }

func (otpForgetful) AcceptOTPStep(context.Context, store.OTPRef, uint64) error { return nil }

// serverCmd is Config.ServerCommand for the test binary, weakened as given.
func serverCmd(weakening string) func(args ...string) *exec.Cmd {
	return func(args ...string) *exec.Cmd {
		mode := "server"
		if weakening != "" {
			mode = "server-weakened=" + weakening
		}
		return childCmd(append([]string{mode}, args...)...)
	}
}

// serverChildMode reports the server mode of a child's arguments.
func serverChildMode(args []string) (weakening string, ok bool) {
	if len(args) == 0 {
		return "", false
	}
	if args[0] == "server" {
		return "", true
	}
	if w, found := strings.CutPrefix(args[0], "server-weakened="); found {
		return w, true
	}
	return "", false
}
