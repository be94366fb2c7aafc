package attack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The channel rows' bench: the attack process plays the payment server's
// CA and the server itself (channel.Server behind a loopback TCP
// listener), boots a device whose payment TA is provisioned with the
// server's trust anchors, registers the TA's channel keys with the CA as a
// phone's payment app would, and then sits as the REE between the TA's
// channel commands and the TCP connection (docs/architecture.md rule 1:
// it carries, drops, replays, reorders and edits every byte).

// chanServerName is the server name the trust anchors pin.
const chanServerName = "pay.fpemu.test"

// chanIOTimeout bounds every read and write on a bench connection.
const chanIOTimeout = 20 * time.Second

// chanPKI is one certificate authority and what it issued: the real
// payment CA (whose root the TA trusts) or the attacker's own.
type chanPKI struct {
	key    *sm2.PrivateKey
	ca     *smx509.Certificate
	roots  *smx509.CertPool
	serial int64
}

func newChanPKI(cn string) (*chanPKI, error) {
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: smx509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	ca, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &chanPKI{key: key, ca: ca, roots: smx509.NewCertPool(), serial: 1}
	p.roots.AddCert(ca)
	return p, nil
}

// issue certifies pub for cn with usage (GM/T 0015 dual certificates:
// digitalSignature for signing, keyAgreement|keyEncipherment for
// encryption).
func (p *chanPKI) issue(cn string, pub any, usage smx509.KeyUsage) (*smx509.Certificate, error) {
	p.serial++
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: usage}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.key)
	if err != nil {
		return nil, err
	}
	return smx509.ParseCertificate(der)
}

const (
	usageSign = smx509.KeyUsageDigitalSignature
	usageEnc  = smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment
)

// dualCredentials makes the fresh SM2 signing and encryption key pairs of
// one channel end and has certify issue their certificates (signing
// first), as the payment CA issues a dual pair (docs/protocol.md §13).
func dualCredentials(certify func(sk, ek *sm2.PrivateKey) (sign, enc *smx509.Certificate, err error)) (*channel.SM2Credentials, error) {
	sk, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ek, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	x, err := channel.NewKeyExchanger(ek)
	if err != nil {
		return nil, err
	}
	sc, ec, err := certify(sk, ek)
	if err != nil {
		return nil, err
	}
	return &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x, Decrypter: ek}, nil
}

// credentials makes a fresh dual key pair and has p certify both for cn.
func (p *chanPKI) credentials(cn string) (*channel.SM2Credentials, error) {
	return dualCredentials(func(sk, ek *sm2.PrivateKey) (*smx509.Certificate, *smx509.Certificate, error) {
		sc, err := p.issue(cn, sk.Public(), usageSign)
		if err != nil {
			return nil, nil, err
		}
		ec, err := p.issue(cn, ek.Public(), usageEnc)
		return sc, ec, err
	})
}

// chanServer is the payment server: channel.Server per TCP connection on
// loopback. After the handshake it answers every record with a feedback
// "ack <custom>" addressed, by default, to the device and user the record
// named. Each connection's end — nil for a clean EOF, else the error that
// killed its state machine — is kept for the attacker to read (verdict).
type chanServer struct {
	ln  net.Listener
	cfg channel.ServerConfig
	// addressee, if set, picks the device id and user id of a feedback
	// from the record it answers: a confused server front-end.
	addressee func(m chanwire.AppMessage) (device, user []byte)

	mu    sync.Mutex
	ends  map[string]chan error // by the client's address
	conns map[net.Conn]bool     // open server-side connections
	wg    sync.WaitGroup
}

// startChanServer listens on 127.0.0.1 and serves until close.
func startChanServer(cfg channel.ServerConfig) (*chanServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &chanServer{ln: ln, cfg: cfg, ends: map[string]chan error{}, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *chanServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[conn] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.handle(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			s.end(conn.RemoteAddr().String()) <- err
		}()
	}
}

// end returns the one-slot channel of the connection from addr.
func (s *chanServer) end(addr string) chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ends[addr]
	if !ok {
		c = make(chan error, 1)
		s.ends[addr] = c
	}
	return c
}

func (s *chanServer) handle(conn net.Conn) error {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * chanIOTimeout))
	srv, err := channel.NewServer(s.cfg)
	if err != nil {
		return err
	}
	for {
		msg, err := drive.ReadMessage(conn)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !srv.Established() {
			out, _, err := srv.Handle(msg)
			if err != nil {
				return err
			}
			if out != nil {
				if _, err := conn.Write(out); err != nil {
					return err
				}
			}
			continue
		}
		m, err := srv.OpenRecord(msg)
		if err != nil {
			return err
		}
		dev, user := m.DeviceID, m.UserID
		if s.addressee != nil {
			dev, user = s.addressee(m)
		}
		fb, err := srv.Seal(chanwire.AppMessage{DeviceID: dev, UserID: user, Custom: append([]byte("ack "), m.Custom...)})
		if err != nil {
			return err
		}
		if _, err := conn.Write(fb); err != nil {
			return err
		}
	}
}

// close stops accepting, ends every open connection and waits for the
// handlers.
func (s *chanServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// link is one attacker-held TCP connection to the server.
type link struct {
	s    *chanServer
	conn net.Conn
}

func (s *chanServer) dial() (*link, error) {
	conn, err := net.DialTimeout("tcp", s.ln.Addr().String(), chanIOTimeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(chanIOTimeout))
	return &link{s: s, conn: conn}, nil
}

func (l *link) send(msg []byte) error {
	_, err := l.conn.Write(msg)
	return err
}

func (l *link) recv() ([]byte, error) { return drive.ReadMessage(l.conn) }

// exchange sends msg and returns the server's reply; when the server
// answers none and closes the connection instead, the error is the one
// that killed the server's state machine.
func (l *link) exchange(msg []byte) ([]byte, error) {
	if err := l.send(msg); err != nil {
		return nil, err
	}
	out, err := l.recv()
	if err == nil {
		return out, nil
	}
	return nil, l.verdict()
}

// verdict closes the connection and returns how the server's side of it
// ended: nil (clean) or the channel error that killed it.
func (l *link) verdict() error {
	_ = l.conn.Close()
	select {
	case err := <-l.s.end(l.conn.LocalAddr().String()):
		return err
	case <-time.After(chanIOTimeout):
		return errors.New("the server did not end the connection")
	}
}

// chanBench is a booted device provisioned for the channel, its payment
// app session with the channel keys certified, the real CA and the
// server.
type chanBench struct {
	dev   *device
	pay   rpc.Invoker
	ca    *chanPKI
	creds *channel.SM2Credentials // the server's
	rsa   *rsa.PrivateKey         // the server's optee-rsa key
	srv   *chanServer             // accepts chanProfiles
	// gmSrv accepts gm only: a server built to seed 001, the one a
	// gm device honestly talks to (a gm-fs server refuses a device that
	// offers gm-fs but proposes gm).
	gmSrv *chanServer
	devID string // the TA's channel device id (CN of its certificates)
}

// server returns the bench server an honest device of profile p talks to.
func (b *chanBench) server(p chanwire.Profile) *chanServer {
	if p == chanwire.ProfileGM {
		return b.gmSrv
	}
	return b.srv
}

// chanProfiles is what the bench's server accepts, strongest first:
// every profile, as a server that also serves seed-built devices would.
var chanProfiles = []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA}

// chanBench boots the bench's device with the trust anchors of a fresh
// CA, certifies the TA's SM2 channel keys, makes its RSA key and starts a
// server accepting chanProfiles.
func (r *runner) chanBench(ctx context.Context, t *tally) *chanBench {
	b := &chanBench{}
	var err error
	if b.ca, err = newChanPKI("fpemu payment CA"); !t.must("CA", err) {
		return nil
	}
	if b.creds, err = b.ca.credentials(chanServerName); !t.must("server certificates", err) {
		return nil
	}
	if b.rsa, err = rsa.GenerateKey(rand.Reader, 2048); !t.must("server RSA key", err) {
		return nil
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&b.rsa.PublicKey)
	if !t.must("server RSA key", err) {
		return nil
	}
	if r.anchors, err = (payproto.TrustAnchors{ServerName: chanServerName, Roots: [][]byte{b.ca.ca.Raw}, RSAServer: rsaPub}).Marshal(); !t.must("trust anchors", err) {
		return nil
	}
	if b.dev, err = r.boot(ctx, false, simdev.RestartPolicy{}); !t.must("boot device", err) {
		return nil
	}
	if b.pay, err = b.dev.session(ctx, tee.RolePayment, rpc.AsUser()); !t.must("payment", err) {
		return nil
	}
	for _, k := range []struct {
		kind  payproto.ChannelKeyKind
		usage smx509.KeyUsage
	}{{payproto.ChannelKeySign, usageSign}, {payproto.ChannelKeyEnc, usageEnc}} {
		if !t.must("register the "+k.kind.String()+" channel key", b.certify(ctx, k.kind, k.usage)) {
			return nil
		}
	}
	if _, err = (payproto.ChannelKey{Kind: payproto.ChannelKeyRSA}).Execute(ctx, b.pay); !t.must("channel RSA key", err) {
		return nil
	}
	b.srv, err = startChanServer(b.serverConfig(chanProfiles...))
	if !t.must("server", err) {
		return nil
	}
	b.dev.onStop(b.srv.close)
	b.gmSrv, err = startChanServer(b.serverConfig(chanwire.ProfileGM))
	if !t.must("gm server", err) {
		return nil
	}
	b.dev.onStop(b.gmSrv.close)
	return b
}

// certify has the CA certify the TA's channel key of kind from its CSR and
// installs the certificate.
func (b *chanBench) certify(ctx context.Context, kind payproto.ChannelKeyKind, usage smx509.KeyUsage) error {
	der, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, b.pay)
	if err != nil {
		return err
	}
	csr, err := smx509.ParseCertificateRequest(der)
	if err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return err
	}
	b.devID = csr.Subject.CommonName
	cert, err := b.ca.issue(csr.Subject.CommonName, csr.PublicKey, usage)
	if err != nil {
		return err
	}
	return payproto.InstallChannelCert{Kind: kind, DER: cert.Raw}.Execute(ctx, b.pay)
}

// serverConfig is the real server's configuration accepting profiles.
func (b *chanBench) serverConfig(profiles ...chanwire.Profile) channel.ServerConfig {
	return channel.ServerConfig{Profiles: profiles, Credentials: b.creds, Roots: b.ca.roots, RSA: &channel.RSAServerKeys{Key: b.rsa}}
}

// taChannel is one channel the attacker had the TA open.
type taChannel struct {
	b *chanBench
	h uint32
}

// open has the TA open a channel of profile; it returns the channel and
// its first handshake message.
func (b *chanBench) open(ctx context.Context, profile chanwire.Profile) (*taChannel, []byte, error) {
	h, m1, err := payproto.OpenChannel{Profile: profile}.Execute(ctx, b.pay)
	if err != nil {
		return nil, nil, err
	}
	return &taChannel{b: b, h: h}, m1, nil
}

// cont hands the TA a server handshake message.
func (c *taChannel) cont(ctx context.Context, msg []byte) ([]byte, error) {
	out, est, err := payproto.ContinueChannel{Handle: c.h, Msg: msg}.Execute(ctx, c.b.pay)
	if err == nil && !est {
		return nil, errors.New("the TA did not establish the channel on the server's reply")
	}
	return out, err
}

// seal has the TA seal custom info.
func (c *taChannel) seal(ctx context.Context, custom string) ([]byte, error) {
	return payproto.SealMessage{Handle: c.h, Custom: []byte(custom)}.Execute(ctx, c.b.pay)
}

// openRecord hands the TA a record as the server's feedback.
func (c *taChannel) openRecord(ctx context.Context, rec []byte) ([]byte, error) {
	return payproto.OpenChannelRecord{Handle: c.h, Record: rec}.Execute(ctx, c.b.pay)
}

// connect runs an honest handshake of profile between the TA and srv; the
// link is established on both sides.
func (b *chanBench) connect(ctx context.Context, srv *chanServer, profile chanwire.Profile) (*taChannel, *link, error) {
	l, err := srv.dial()
	if err != nil {
		return nil, nil, err
	}
	c, m1, err := b.open(ctx, profile)
	if err != nil {
		return nil, nil, err
	}
	m2, err := l.exchange(m1)
	if err != nil {
		return nil, nil, fmt.Errorf("server on the ClientHello: %w", err)
	}
	m3, err := c.cont(ctx, m2)
	if err != nil {
		return nil, nil, err
	}
	return c, l, l.send(m3)
}

// pending is a handshake the attacker started and holds at the server's
// reply: the TA's channel, the link to the server, and the server's
// answer to the ClientHello (sh, or the server's refusal in err).
type pending struct {
	c   *taChannel
	l   *link
	sh  []byte
	err error
}

// start dials srv, has the TA open a channel of profile and carries its
// ClientHello to the server, through rewrite first when rewrite is not
// nil (the man in the middle's edit). A failed setup step is recorded in
// t and returns false; the server's answer is the caller's to judge.
func (b *chanBench) start(ctx context.Context, t *tally, srv *chanServer, profile chanwire.Profile, rewrite func([]byte) ([]byte, error)) (pending, bool) {
	l, err := srv.dial()
	if !t.must("dial", err) {
		return pending{}, false
	}
	c, m1, err := b.open(ctx, profile)
	if !t.must("CHANNEL_OPEN", err) {
		_ = l.conn.Close()
		return pending{}, false
	}
	if rewrite != nil {
		if m1, err = rewrite(m1); !t.must("edit ClientHello", err) {
			_ = l.conn.Close()
			return pending{}, false
		}
	}
	sh, err := l.exchange(m1)
	return pending{c: c, l: l, sh: sh, err: err}, true
}

// hello is start of an honest ClientHello whose ServerHello is a setup
// step, not a probe.
func (b *chanBench) hello(ctx context.Context, t *tally, srv *chanServer, profile chanwire.Profile) (pending, bool) {
	h, ok := b.start(ctx, t, srv, profile, nil)
	if ok && !t.must("server's ServerHello", h.err) {
		_ = h.l.conn.Close()
		return h, false
	}
	return h, ok
}

// roundTrip has the TA seal custom, carries the record to the server and
// returns the server's feedback record, not yet opened.
func (c *taChannel) roundTrip(ctx context.Context, l *link, custom string) ([]byte, error) {
	rec, err := c.seal(ctx, custom)
	if err != nil {
		return nil, err
	}
	return l.exchange(rec)
}

// control is every channel row's control: an honest channel of profile
// carries a message to the server and the TA accepts the feedback.
func (b *chanBench) control(ctx context.Context, t *tally, profile chanwire.Profile) bool {
	c, l, err := b.connect(ctx, b.srv, profile)
	if !t.must("control: honest "+profile.String()+" handshake", err) {
		return false
	}
	defer l.conn.Close()
	fb, err := c.roundTrip(ctx, l, "control")
	if !t.must("control: the server answers a record", err) {
		return false
	}
	got, err := c.openRecord(ctx, fb)
	if !t.must("control: the TA opens the feedback", err) {
		return false
	}
	if string(got) != "ack control" {
		t.brokef("control: the TA returned feedback %q, want %q", got, "ack control")
		return false
	}
	return true
}
