// Package payserver is the payment server `fpemu server` runs
// (docs/protocol.md §14): the server side of the trusted channel over TCP
// (channel.Server, gm-fs by default), the application protocol of
// payserver/wire on top of it — registration against the device roots,
// challenges with a signed order summary, payment statements verified by
// payserver/verify and booked by payserver/store, feedback sealed back —
// and the merchant HTTP/JSON API (merchant.go).
//
// Every resource a peer can make the server hold is bounded: connections
// (Config.MaxConns; beyond it a new connection is closed at once), the
// time a handshake may take (HandshakeTimeout) and a connection may idle
// (IdleTimeout), one message (the channel header's length, ≤
// chanwire.MaxBody, is checked before the body is read), one pending
// PayIntent per connection, and merchant request bodies (MaxBodyBytes).
package payserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver/internal/seam"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
)

// Defaults of Config.
const (
	DefaultMaxConns         = 256
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultPruneEvery       = time.Minute
	DefaultMaxBodyBytes     = 16 << 10
)

// Config configures a Server.
type Config struct {
	Store store.Store
	// Channel is the channel server configuration (profiles, the server's
	// dual certificates, the CA roots of device channel certificates).
	// VerifyDevice is set by the server per connection.
	Channel channel.ServerConfig
	// Roots are the device attestation keys registrations must chain to.
	Roots *verify.Roots
	// Logger must carry no "component" field (tee.NewRootLoggerTo):
	// the server adds component=payserver (merchant, shield) itself, and
	// zap would write a second key rather than replace the first.
	Logger           *zap.Logger
	MaxConns         int
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	PruneEvery       time.Duration
	MaxBodyBytes     int64
	// Factors is the n-factor configuration (docs/protocol.md §16.4);
	// its zero value asks every payment for a fingerprint only and
	// enrols no one-time codes, as before the policy existed.
	Factors Factors
}

// Server is a running payment server.
type Server struct {
	cfg   Config
	log   *zap.Logger
	slots chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	// skip is empty but in a canary server of a test binary
	// (payserver/canary; canary.go).
	skip seam.Check
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Roots == nil {
		return nil, errors.New("payserver: store and device roots are required")
	}
	if cfg.Channel.Credentials == nil || cfg.Channel.Roots == nil {
		return nil, errors.New("payserver: the channel needs the server's credentials and the device CA roots")
	}
	if _, ok := cfg.Channel.Credentials.Signer.(*sm2.PrivateKey); !ok {
		return nil, errors.New("payserver: the signing key must be an SM2 key")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.MaxConns = orDefault(cfg.MaxConns, DefaultMaxConns)
	cfg.HandshakeTimeout = orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.PruneEvery = orDefault(cfg.PruneEvery, DefaultPruneEvery)
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if err := cfg.Factors.init(cfg.Store, cfg.Logger.With(zap.String("component", "payserver"))); err != nil {
		return nil, err
	}
	// Check the channel configuration once, at start.
	probe := cfg.Channel
	if _, err := channel.NewServer(probe); err != nil {
		return nil, fmt.Errorf("payserver: %w", err)
	}
	srv := &Server{cfg: cfg, log: cfg.Logger.With(zap.String("component", "payserver")),
		slots: make(chan struct{}, cfg.MaxConns), conns: map[net.Conn]struct{}{}, skip: seam.Skipped()}
	if srv.skip != 0 {
		srv.log.Warn("canary server: checks skipped", zap.Uint32("skip", uint32(srv.skip)))
	}
	if srv.cfg.Factors.Shield == nil {
		// The shield factor is this server's own seed 002 flow: a
		// pre-submit a card confirmed through /v1/shield (shield.go).
		srv.cfg.Factors.Shield = ownShield{srv}
	}
	return srv, nil
}

// orDefault is v, or d when v is not positive: a bound the Config left
// unset.
func orDefault[T ~int | ~int64](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// ServeChannel accepts channel connections on ln until ctx ends or ln
// fails; then it closes ln and every open connection and waits for their
// goroutines.
func (s *Server) ServeChannel(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer s.closeAll()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("payserver: accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log.Warn("connection refused: at the connection bound", zap.Int("max_conns", s.cfg.MaxConns))
			_ = conn.Close()
			continue
		}
		s.track(conn, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			defer s.track(conn, false)
			defer conn.Close()
			s.serveConn(ctx, conn)
		}()
	}
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// RunPrune calls Store.Prune every PruneEvery until ctx ends.
func (s *Server) RunPrune(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p, err := s.cfg.Store.Prune(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("prune failed", zap.Error(err))
				continue
			}
			if p.Challenges+p.Requests > 0 {
				s.log.Info("pruned", zap.Int64("challenges", p.Challenges), zap.Int64("requests", p.Requests))
			}
		}
	}
}

// readMessage reads one channel message (docs/protocol.md §11.2): the
// header is checked before any body byte is read.
func readMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, chanwire.HeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	h, err := chanwire.ParseHeader(hdr)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, chanwire.HeaderSize+int(h.Length))
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[chanwire.HeaderSize:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// peerDevice is the device id a channel signing certificate names: its
// subject CommonName, 32 lower-case hex digits (the payment TA's
// CHANNEL_KEY CSR, docs/protocol.md §8.11).
func peerDevice(cert *smx509.Certificate) (proof.DeviceID, error) {
	var id proof.DeviceID
	cn := cert.Subject.CommonName
	b, err := hex.DecodeString(cn)
	if err != nil || len(b) != proof.DeviceIDSize || hex.EncodeToString(b) != cn {
		return id, fmt.Errorf("%w: channel certificate subject %q is not a device id", channel.ErrIdentity, cn)
	}
	copy(id[:], b)
	return id, nil
}

// conn is one channel connection's state.
type conn struct {
	s      *Server
	nc     net.Conn
	ch     *channel.Server
	peer   proof.DeviceID
	peerTx []byte // hex of peer, as the TA fills AppMessage.DeviceID
	intent *wire.PayIntent
	// intent2 is the pending PayIntent2 (intent is its PayIntent): its
	// payment is answered by a SignedFeedback.
	intent2 *wire.PayIntent2
	log     *zap.Logger
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{s: s, nc: nc, log: s.log.With(zap.String("remote", nc.RemoteAddr().String()))}
	cfg := s.cfg.Channel
	var havePeer bool
	cfg.VerifyDevice = func(sign, _ *smx509.Certificate) error {
		id, err := peerDevice(sign)
		if err != nil {
			return err
		}
		c.peer, havePeer = id, true
		return nil
	}
	ch, err := channel.NewServer(cfg)
	if err != nil {
		c.log.Error("channel config", zap.Error(err))
		return
	}
	c.ch = ch
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	for !ch.Established() {
		msg, err := readMessage(nc)
		if err != nil {
			c.log.Info("handshake ended", zap.Error(err))
			return
		}
		out, _, err := ch.Handle(msg)
		if err != nil {
			c.log.Info("handshake refused", zap.Error(err))
			return
		}
		if out != nil {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}
	if !havePeer {
		c.log.Info("channel without a device certificate (profile without certificates is not served)")
		return
	}
	c.peerTx = []byte(hex.EncodeToString(c.peer[:]))
	c.log = c.log.With(zap.String("device", string(c.peerTx)), zap.Stringer("profile", ch.Profile()))
	c.log.Info("channel established")
	for ctx.Err() == nil {
		_ = nc.SetDeadline(time.Now().Add(s.cfg.IdleTimeout))
		rec, err := readMessage(nc)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.log.Info("connection ended", zap.Error(err))
			}
			return
		}
		m, err := ch.OpenRecord(rec)
		if err != nil {
			c.log.Info("record refused; closing", zap.Error(err))
			return
		}
		if string(m.DeviceID) != string(c.peerTx) {
			c.log.Warn("application message names another device; closing")
			return
		}
		resp := c.handle(ctx, m.Custom)
		if resp == nil {
			continue
		}
		out, err := ch.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: resp})
		if err != nil {
			c.log.Error("seal", zap.Error(err))
			return
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// handle answers one application message's custom info (nil: no answer,
// after a PayIntent).
func (c *conn) handle(ctx context.Context, custom []byte) []byte {
	if !wire.IsMessage(custom) {
		return c.payment(ctx, custom)
	}
	typ, err := wire.PeekType(custom)
	if err != nil {
		return result(err)
	}
	if c.intent != nil {
		c.intent, c.intent2 = nil, nil
		return result(fmt.Errorf("%w: %s where the statement of a pay intent was expected", wire.ErrMalformed, typ))
	}
	switch typ {
	case wire.TypeRegister:
		m, err := wire.ParseRegister(custom)
		if err != nil {
			return result(err)
		}
		return result(c.register(ctx, m))
	case wire.TypeChallengeRequest:
		m, err := wire.ParseChallengeRequest(custom)
		if err != nil {
			return result(err)
		}
		return c.challenge(ctx, m.OrderID)
	case wire.TypePayIntent:
		m, err := wire.ParsePayIntent(custom)
		if err != nil {
			return result(err)
		}
		c.intent = &m
		return nil
	case wire.TypePayIntent2:
		m, err := wire.ParsePayIntent2(custom)
		if err != nil {
			return result(err)
		}
		c.intent, c.intent2 = &m.PayIntent, &m
		return nil
	case wire.TypeOTPEnroll:
		m, err := wire.ParseOTPEnroll(custom)
		if err != nil {
			return result(err)
		}
		return c.otpEnroll(ctx, m)
	case wire.TypeStatus:
		m, err := wire.ParseStatusRequest(custom)
		if err != nil {
			return result(err)
		}
		return c.status(ctx, m.OrderID)
	}
	return result(fmt.Errorf("%w: %s is not a request", wire.ErrMalformed, typ))
}

// result encodes err as a Result (refusal details are the rule's name:
// nothing a device should not learn).
func result(err error) []byte {
	r := wire.Result{Rule: verify.RuleOf(err), Detail: detail(err)}
	b, _ := r.Marshal()
	return b
}

func detail(err error) string {
	if err == nil {
		return ""
	}
	var missing *policy.MissingError
	if errors.As(err, &missing) {
		return "missing " + missing.Missing.String()
	}
	rule := verify.RuleOf(err)
	if rule == wire.RuleUnavailable {
		return "the server could not decide; retry"
	}
	return rule.String()
}

func (c *conn) register(ctx context.Context, m wire.Register) error {
	roots, peer := c.s.weakRegistration(m, c.s.cfg.Roots, c.peer)
	d, k, err := verify.Registration(m, roots, peer)
	if err != nil {
		c.log.Info("registration refused", zap.Error(err))
		return err
	}
	if err := c.s.cfg.Store.RegisterDevice(ctx, d); err != nil {
		c.log.Info("registration refused", zap.Error(err))
		return err
	}
	if old, err := c.s.cfg.Store.Key(ctx, k.Ref); err == nil && old.PublicKey == k.PublicKey && old.Serial == k.Serial && !old.Revoked {
		return nil // the same registration again
	}
	if err := c.s.cfg.Store.RegisterKey(ctx, k); err != nil {
		c.log.Info("registration refused", zap.Error(err))
		return err
	}
	c.log.Info("scene key registered", zap.String("app", k.Ref.App), zap.String("scene", k.Ref.Scene), zap.Int("fingers", len(k.FingerIDs)))
	return nil
}

func summaryOf(o store.Order, ch store.Challenge) wire.Summary {
	return wire.Summary{Challenge: ch.Value, ExpiresMs: ch.Expires.UnixMilli(), OrderID: o.ID, Device: ch.Device,
		Payee: o.Payee, Amount: o.Amount, Currency: o.Currency, Text: o.Summary}
}

func (c *conn) challenge(ctx context.Context, orderID string) []byte {
	o, err := c.s.cfg.Store.Order(ctx, orderID)
	if err != nil {
		return result(err)
	}
	// The decision comes first: a policy that names no rule for this
	// customer burns no challenge.
	dec, err := c.s.cfg.Factors.decide(ctx, c.peer, o)
	if err != nil {
		c.log.Warn("no factor decision", zap.String("order", orderID), zap.Error(err))
		return result(err)
	}
	ch, err := c.s.cfg.Store.IssueChallenge(ctx, orderID, c.peer)
	if err != nil {
		c.log.Info("challenge refused", zap.String("order", orderID), zap.Error(err))
		return result(err)
	}
	sum := summaryOf(o, ch)
	if c.s.cfg.Factors.Policy != nil {
		// Summary version 2: the device shows what is asked.
		sum.Tier, sum.Required = dec.Tier, dec.Required
	}
	body, err := sum.Marshal()
	if err != nil {
		return result(err)
	}
	sig, err := c.s.cfg.Channel.Credentials.Signer.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	if err != nil {
		c.log.Error("sign summary", zap.Error(err))
		return result(err)
	}
	b, err := wire.Challenge{Summary: body, Signature: sig}.Marshal()
	if err != nil {
		return result(err)
	}
	c.log.Info("challenge issued", zap.String("order", orderID), zap.Int("attempt", ch.Attempt),
		zap.String("tier", dec.Tier), zap.Stringer("required", dec.Required))
	return b
}

func refused(orderID string, requestID []byte, err error) []byte {
	rule, d := verify.RuleOf(err), detail(err)
	if errors.Is(err, errNotYours) {
		rule, d = wire.RuleNotYours, wire.RuleNotYours.String()
	}
	b, _ := wire.Feedback{Rule: rule, OrderID: orderID, RequestID: requestID, Detail: d}.Marshal()
	return b
}

func booked(rc store.Receipt) []byte {
	b, _ := wire.Feedback{Rule: wire.RuleOK, Replayed: rc.Replayed, OrderID: rc.OrderID, RequestID: rc.RequestID,
		EntryID: rc.EntryID, Counter: rc.Counter, StatementHash: rc.StatementHash}.Marshal()
	return b
}

// payment verifies and books the statement announced by the pending
// PayIntent or PayIntent2 (docs/protocol.md §14.5, §16.4).
func (c *conn) payment(ctx context.Context, signed []byte) []byte {
	in, in2 := c.intent, c.intent2
	c.intent, c.intent2 = nil, nil
	if in == nil {
		return result(fmt.Errorf("%w: a statement without a pay intent", wire.ErrMalformed))
	}
	dec, rc, err := c.s.settle(ctx, c.peer, *in, in2, signed)
	answer := func(fb []byte) []byte {
		if in2 == nil {
			return fb
		}
		return c.signFeedback(fb, dec)
	}
	if err != nil {
		c.log.Info("payment refused", zap.String("order", in.OrderID), zap.Stringer("rule", verify.RuleOf(err)), zap.Error(err))
		return answer(refused(in.OrderID, in.RequestID, err))
	}
	c.log.Info("payment booked", zap.String("order", rc.OrderID), zap.Int64("entry", rc.EntryID), zap.Bool("replayed", rc.Replayed),
		zap.String("tier", dec.Tier), zap.Stringer("required", dec.Required), zap.Stringer("satisfied", dec.Satisfied))
	return answer(booked(rc))
}

// settle is a payment of the channel peer after its pay intent: the
// statement signed by a registered scene key of peer, for the order's
// summary and the intent's challenge (§14.5), then — unless the order is
// paid already — the factor decision and check (§16.4; in2 nil is a
// version-1 PayIntent: no code, no shield ref), then store.Book. It
// returns the decision as far as it was made; an error is the refusal.
func (s *Server) settle(ctx context.Context, peer proof.DeviceID, in wire.PayIntent, in2 *wire.PayIntent2, signed []byte) (wire.Decision, store.Receipt, error) {
	var dec wire.Decision
	ref, err := verify.PeekRef(signed)
	if err != nil {
		return dec, store.Receipt{}, err
	}
	if s.skip&seam.Identity != 0 {
		peer = ref.Device // canary.go
	}
	if ref.Device != peer {
		return dec, store.Receipt{}, fmt.Errorf("%w: statement names device %x", verify.ErrIdentity, ref.Device[:])
	}
	key, err := s.cfg.Store.Key(ctx, ref)
	if err != nil {
		return dec, store.Receipt{}, err
	}
	o, err := s.cfg.Store.Order(ctx, in.OrderID)
	if err != nil {
		return dec, store.Receipt{}, err
	}
	sum := wire.Summary{Challenge: in.Challenge, OrderID: o.ID, Device: peer, Payee: o.Payee, Amount: o.Amount,
		Currency: o.Currency, Text: o.Summary}
	b, st, err := s.statement(signed, key, peer, sum, in.RequestID)
	if err != nil {
		return dec, store.Receipt{}, err
	}
	if o.Status != store.OrderPaid {
		// An order already paid skips the factors: Book returns the first
		// booking of this request or statement (a retry whose one-time
		// code is spent) or refuses order-paid; it books nothing new.
		d, err := s.cfg.Factors.decide(ctx, peer, o)
		if err != nil {
			return dec, store.Receipt{}, err
		}
		dec = wire.Decision{Tier: d.Tier, Required: d.Required}
		var extra wire.PayIntent2
		if in2 != nil {
			extra = *in2
		}
		dec.Satisfied, err = s.cfg.Factors.satisfy(ctx, peer, o, st, extra, d.Required)
		if err != nil {
			return dec, store.Receipt{}, err
		}
	}
	// The ledger row keeps the decision; a replay (Book returns the first
	// booking of this request or statement) answers with the decision
	// that booking was made under, not the one of this call.
	b.Decision = store.Decision(dec)
	rc, err := s.cfg.Store.Book(ctx, b)
	if err == nil && rc.Replayed {
		dec = wire.Decision(rc.Decision)
	}
	return dec, rc, err
}

// signFeedback wraps a Feedback message in a SignedFeedback with the
// decision, signed by the server's channel signing key.
func (c *conn) signFeedback(fb []byte, dec wire.Decision) []byte {
	f, err := wire.ParseFeedback(fb)
	if err != nil {
		c.log.Error("feedback", zap.Error(err))
		return result(err)
	}
	sf := wire.SignedFeedback{Feedback: f, Decision: dec}
	msg, err := sf.SignedBytes()
	if err == nil {
		sf.Signature, err = c.s.cfg.Channel.Credentials.Signer.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	}
	var out []byte
	if err == nil {
		out, err = sf.Marshal()
	}
	if err != nil {
		c.log.Error("sign feedback", zap.Error(err))
		return result(err)
	}
	return out
}

// status answers a StatusRequest: the booking of an order this device
// paid, as a replayed Feedback.
func (c *conn) status(ctx context.Context, orderID string) []byte {
	o, err := c.s.cfg.Store.Order(ctx, orderID)
	if err != nil {
		return refused(orderID, nil, err)
	}
	notYours := refused(orderID, nil, errNotYours)
	if o.Status != store.OrderPaid || o.EntryID == 0 {
		return notYours
	}
	rows, err := c.s.cfg.Store.Ledger(ctx, o.EntryID-1, 1)
	if err != nil {
		return refused(orderID, nil, err)
	}
	if len(rows) != 1 || rows[0].EntryID != o.EntryID || rows[0].Key.Device != c.peer {
		return notYours
	}
	rows[0].Replayed = true
	return booked(rows[0])
}

var errNotYours = errors.New("payserver: order not paid by this device")
