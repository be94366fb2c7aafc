package payment

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/store"
)

// The device end of the trusted channel (docs/protocol.md §8.11, §11):
// the TA's channel keys live in its sealed store, the trust anchors come
// from the provisioning record, and each open channel is a channel.Client
// in the TA's memory, bound to the client identity that opened it.

const tableChanKeys = "pay_chan_keys"

func chanKeyIdentity(k payproto.ChannelKeyKind) []byte {
	return store.Identity(store.Str("chankey"), store.U32(uint32(k)))
}

// chanKey is one sealed channel key: the private key (SM2 scalar or RSA
// PKCS #1 DER) and, for SM2 keys, the installed certificate.
//
//	u16 len ‖ private key ‖ u16 len ‖ certificate DER (0: none yet)
type chanKey struct {
	priv []byte
	cert []byte
}

func (k *chanKey) marshal() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(k.priv)))
	b = append(b, k.priv...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.cert)))
	return append(b, k.cert...)
}

func parseChanKey(b []byte) (chanKey, error) {
	r := bytes.NewReader(b)
	var k chanKey
	for _, f := range []*[]byte{&k.priv, &k.cert} {
		var n uint16
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return chanKey{}, fmt.Errorf("%w: channel key record truncated", ErrCorruptRecord)
		}
		*f = make([]byte, n)
		if _, err := io.ReadFull(r, *f); err != nil {
			return chanKey{}, fmt.Errorf("%w: channel key record truncated", ErrCorruptRecord)
		}
	}
	if r.Len() != 0 || len(k.priv) == 0 {
		return chanKey{}, fmt.Errorf("%w: channel key record malformed", ErrCorruptRecord)
	}
	return k, nil
}

func loadChanKey(tx *store.Tx, kind payproto.ChannelKeyKind) (chanKey, bool, error) {
	b, ok, err := tx.LoadSealed(tableChanKeys, chanKeyIdentity(kind), `SELECT record FROM pay_chan_keys WHERE kind = ?`, int64(kind))
	if err != nil || !ok {
		return chanKey{}, false, err
	}
	defer clear(b)
	k, err := parseChanKey(b)
	return k, err == nil, err
}

func putChanKey(tx *store.Tx, kind payproto.ChannelKeyKind, k *chanKey) error {
	b := k.marshal()
	defer clear(b)
	return tx.PutSealed(tableChanKeys, chanKeyIdentity(kind), b,
		`INSERT INTO pay_chan_keys(kind, record) VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET record = excluded.record`, int64(kind))
}

// ChannelWeakening names one TA-side channel rule a canary double runs
// without (Config.Weakened). The rules inside the channel library have no
// such switch.
type ChannelWeakening uint8

// Channel weakenings. Each skips exactly one check of §8.11.
const (
	// ChannelRulesKept is the TA as built: every rule applies.
	ChannelRulesKept ChannelWeakening = iota
	// OfferOnlyProposed makes CHANNEL_OPEN offer just the profile it
	// proposes instead of every profile the TA is provisioned for, so a
	// server cannot see that the REE asked for a weaker one
	// (docs/protocol.md §8.11, §11.8: no downgrade).
	OfferOnlyProposed
	// IgnoreAddressee makes CHANNEL_OPEN_RECORD return a feedback without
	// checking that it names this device and the calling user (§8.11).
	IgnoreAddressee
)

// anchors are the parsed trust anchors of the provisioning record.
type anchors struct {
	roots      *smx509.CertPool // nil: no SM2 profiles
	serverName string
	rsaServer  *rsa.PublicKey // nil: no optee-rsa
}

// CheckAnchors reports whether b are trust anchors the TA starts with
// (docs/protocol.md §8.11): the payproto.TrustAnchors wire form, every
// root a CA certificate, the RSA server key RSA-2048 or more. The error
// wraps payproto.ErrAnchors and says what is wrong; `fpemu device up
// --trust-anchors` checks a file with it before it boots anything.
func CheckAnchors(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", payproto.ErrAnchors)
	}
	_, err := parseAnchors(b)
	return err
}

func parseAnchors(b []byte) (*anchors, error) {
	if len(b) == 0 {
		return nil, nil
	}
	ta, err := payproto.ParseTrustAnchors(b)
	if err != nil {
		return nil, err
	}
	a := &anchors{serverName: ta.ServerName}
	if len(ta.Roots) > 0 {
		a.roots = smx509.NewCertPool()
		for i, der := range ta.Roots {
			c, err := smx509.ParseCertificate(der)
			if err != nil || !c.IsCA {
				return nil, fmt.Errorf("%w: root %d is not a CA certificate", payproto.ErrAnchors, i)
			}
			a.roots.AddCert(c)
		}
	}
	if len(ta.RSAServer) > 0 {
		k, err := x509.ParsePKIXPublicKey(ta.RSAServer)
		pub, ok := k.(*rsa.PublicKey)
		if err != nil || !ok || pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA server key is not an RSA-2048 PKIX key", payproto.ErrAnchors)
		}
		a.rsaServer = pub
	}
	return a, nil
}

// openChannel is one channel: its client state machine, its owner and
// when it was last used (boot clock).
type openChannel struct {
	mu     sync.Mutex
	owner  tee.UUID
	client *channel.Client
	lastMs uint64
}

// channels is the TA's table of open channels (bounds: payproto's
// MaxChannelsPerIdentity, MaxChannels, ChannelIdleMs).
type channels struct {
	mu   sync.Mutex
	byID map[uint32]*openChannel
}

// deviceIDText is the device id the channel names: the attestation
// device id in lower-case hex (the CN of the channel certificates, the
// TLV device id, optee-rsa's DeviceID).
func (t *TA) deviceIDText() []byte { return []byte(hex.EncodeToString(t.devID[:])) }

func checkKind(k payproto.ChannelKeyKind) error {
	switch k {
	case payproto.ChannelKeySign, payproto.ChannelKeyEnc, payproto.ChannelKeyRSA:
		return nil
	}
	return fmt.Errorf("%w: channel key kind %d", payproto.ErrBadRequest, uint32(k))
}

// ChannelKey returns the PKCS #10 CSR (SM2 keys, subject CN = the device
// id) or the PKIX public key (RSA) of the channel key of kind, generating
// the key in one transaction on first use.
func (t *TA) ChannelKey(ctx context.Context, owner tee.UUID, kind payproto.ChannelKeyKind) ([]byte, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	var out []byte
	created := false
	err := t.Tx(ctx, func(tx *store.Tx) error {
		k, ok, err := loadChanKey(tx, kind)
		if err != nil {
			return err
		}
		if !ok {
			if k.priv, err = t.newChanKey(kind); err != nil {
				return err
			}
			if err := putChanKey(tx, kind, &k); err != nil {
				return err
			}
			created = true
		}
		defer clear(k.priv)
		out, err = t.publicOf(kind, k.priv)
		return err
	})
	if err != nil {
		return nil, err
	}
	t.Log.Info("channel key", zap.Stringer("kind", kind), zap.Bool("created", created))
	return out, nil
}

func (t *TA) newChanKey(kind payproto.ChannelKeyKind) ([]byte, error) {
	if kind == payproto.ChannelKeyRSA {
		k, err := rsa.GenerateKey(t.Rand, 2048)
		if err != nil {
			return nil, fmt.Errorf("payment: generate channel key: %w", err)
		}
		return x509.MarshalPKCS1PrivateKey(k), nil
	}
	k, err := sm2.GenerateKey(t.Rand)
	if err != nil {
		return nil, fmt.Errorf("payment: generate channel key: %w", err)
	}
	return k.D.FillBytes(make([]byte, 32)), nil
}

func sm2Key(priv []byte) (*sm2.PrivateKey, error) {
	k, err := sm2.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: channel key: %v", ErrCorruptRecord, err)
	}
	return k, nil
}

func rsaKey(priv []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS1PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: channel key: %v", ErrCorruptRecord, err)
	}
	return k, nil
}

func (t *TA) publicOf(kind payproto.ChannelKeyKind, priv []byte) ([]byte, error) {
	if kind == payproto.ChannelKeyRSA {
		k, err := rsaKey(priv)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKIXPublicKey(&k.PublicKey)
	}
	k, err := sm2Key(priv)
	if err != nil {
		return nil, err
	}
	return smx509.CreateCertificateRequest(t.Rand, &smx509.CertificateRequest{
		Subject: pkix.Name{CommonName: string(t.deviceIDText())},
	}, k)
}

// InstallChannelCert installs the certificate the CA issued for the SM2
// channel key of kind. It is refused (ErrBadCertificate, nothing stored)
// unless it parses, chains to the trust anchors' roots now, carries the
// key usage of its kind (GM/T 0015 dual certificates: digitalSignature for
// the signing certificate, keyAgreement or keyEncipherment for the
// encryption one), names the device id as its subject CN, and certifies
// exactly the TA's key of that kind — so the REE can install neither a
// certificate for a key the TA lacks nor one from another root.
func (t *TA) InstallChannelCert(ctx context.Context, owner tee.UUID, kind payproto.ChannelKeyKind, der []byte) error {
	if kind != payproto.ChannelKeySign && kind != payproto.ChannelKeyEnc {
		return fmt.Errorf("%w: only SM2 channel keys take certificates", payproto.ErrBadRequest)
	}
	if err := checkCaller(owner); err != nil {
		return err
	}
	if t.anchors == nil || t.anchors.roots == nil {
		return payproto.ErrChannelNotProvisioned
	}
	if len(der) > chanwire.MaxCert {
		return fmt.Errorf("%w: %d bytes", payproto.ErrBadCertificate, len(der))
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w: does not parse", payproto.ErrBadCertificate)
	}
	if _, err := cert.Verify(smx509.VerifyOptions{Roots: t.anchors.roots, CurrentTime: t.now(), KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: does not chain to the trust anchors", payproto.ErrBadCertificate)
	}
	usage := smx509.KeyUsageDigitalSignature
	if kind == payproto.ChannelKeyEnc {
		usage = smx509.KeyUsageKeyAgreement | smx509.KeyUsageKeyEncipherment
	}
	if cert.KeyUsage&usage == 0 {
		return fmt.Errorf("%w: wrong key usage for %s", payproto.ErrBadCertificate, kind)
	}
	if cert.Subject.CommonName != string(t.deviceIDText()) {
		return fmt.Errorf("%w: subject is not this device", payproto.ErrBadCertificate)
	}
	err = t.Tx(ctx, func(tx *store.Tx) error {
		k, ok, err := loadChanKey(tx, kind)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: the TA has no %s key", payproto.ErrBadCertificate, kind)
		}
		defer clear(k.priv)
		priv, err := sm2Key(k.priv)
		if err != nil {
			return err
		}
		if !priv.PublicKey.Equal(cert.PublicKey) {
			return fmt.Errorf("%w: certifies another key than the TA's %s key", payproto.ErrBadCertificate, kind)
		}
		k.cert = bytes.Clone(der)
		return putChanKey(tx, kind, &k)
	})
	if err != nil {
		return err
	}
	t.Log.Info("channel certificate installed", zap.Stringer("kind", kind))
	return nil
}

func (t *TA) now() time.Time {
	if t.wallClock != nil {
		return t.wallClock()
	}
	return time.Now()
}

// clientConfig builds the channel.Client configuration for profile from
// the sealed keys and the anchors. The device offers every profile it is
// provisioned for, strongest first (gm-fs signs that list, so a server
// that also speaks a stronger one refuses the downgrade, §11.8).
func (t *TA) clientConfig(ctx context.Context, profile chanwire.Profile) (channel.ClientConfig, error) {
	cfg := channel.ClientConfig{Profile: profile, Rand: t.Rand, Now: t.now}
	if t.anchors == nil {
		return cfg, payproto.ErrChannelNotProvisioned
	}
	var sign, enc, rsaK chanKey
	var haveSM2, haveRSA bool
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		var ok1, ok2 bool
		var err error
		if sign, ok1, err = loadChanKey(tx, payproto.ChannelKeySign); err != nil {
			return err
		}
		if enc, ok2, err = loadChanKey(tx, payproto.ChannelKeyEnc); err != nil {
			return err
		}
		haveSM2 = ok1 && ok2 && len(sign.cert) > 0 && len(enc.cert) > 0 && t.anchors.roots != nil
		rsaK, haveRSA, err = loadChanKey(tx, payproto.ChannelKeyRSA)
		haveRSA = haveRSA && t.anchors.rsaServer != nil
		return err
	})
	defer clear(sign.priv)
	defer clear(enc.priv)
	defer clear(rsaK.priv)
	if err != nil {
		return cfg, err
	}
	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM} {
		if haveSM2 {
			cfg.Offered = append(cfg.Offered, p)
		}
	}
	if haveRSA {
		cfg.Offered = append(cfg.Offered, chanwire.ProfileOpteeRSA)
	}
	if t.weak == OfferOnlyProposed {
		cfg.Offered = []chanwire.Profile{profile}
	}
	switch profile {
	case chanwire.ProfileGM, chanwire.ProfileGMFS:
		if !haveSM2 {
			return cfg, payproto.ErrChannelNotProvisioned
		}
		sk, err := sm2Key(sign.priv)
		if err != nil {
			return cfg, err
		}
		ek, err := sm2Key(enc.priv)
		if err != nil {
			return cfg, err
		}
		x, err := channel.NewKeyExchanger(ek)
		if err != nil {
			return cfg, err
		}
		sc, err := smx509.ParseCertificate(sign.cert)
		if err != nil {
			return cfg, fmt.Errorf("%w: channel certificate", ErrCorruptRecord)
		}
		ec, err := smx509.ParseCertificate(enc.cert)
		if err != nil {
			return cfg, fmt.Errorf("%w: channel certificate", ErrCorruptRecord)
		}
		cfg.Credentials = &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x}
		cfg.Roots, cfg.ServerName = t.anchors.roots, t.anchors.serverName
	case chanwire.ProfileOpteeRSA:
		if !haveRSA {
			return cfg, payproto.ErrChannelNotProvisioned
		}
		k, err := rsaKey(rsaK.priv)
		if err != nil {
			return cfg, err
		}
		cfg.RSA = &channel.RSAClientKeys{DeviceID: t.deviceIDText(), Key: k, ServerKey: t.anchors.rsaServer}
	default:
		return cfg, fmt.Errorf("%w: profile %d", payproto.ErrBadRequest, uint8(profile))
	}
	return cfg, nil
}

// OpenChannel starts a channel of profile (0: gm-fs) for owner and returns
// its handle and the first handshake message. Bounds (§8.10): idle
// channels are dropped first; owner's least recently used channel is
// closed when it has MaxChannelsPerIdentity; beyond MaxChannels in all,
// ErrChannelsBusy.
func (t *TA) OpenChannel(ctx context.Context, owner tee.UUID, profile chanwire.Profile) (uint32, []byte, error) {
	if err := checkCaller(owner); err != nil {
		return 0, nil, err
	}
	if profile == 0 {
		profile = channel.DefaultProfile
	}
	if profile > chanwire.ProfileGMFS {
		return 0, nil, fmt.Errorf("%w: profile %d", payproto.ErrBadRequest, uint8(profile))
	}
	cfg, err := t.clientConfig(ctx, profile)
	if err != nil {
		return 0, nil, err
	}
	c, err := channel.NewClient(cfg)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", payproto.ErrChannelNotProvisioned, err)
	}
	msg, err := c.Open()
	if err != nil {
		return 0, nil, t.channelFailed(0, err)
	}
	h, err := t.addChannel(owner, c)
	if err != nil {
		return 0, nil, err
	}
	t.Log.Info("channel opened", zap.Stringer("profile", profile), zap.Uint32("handle", h))
	return h, msg, nil
}

func (t *TA) addChannel(owner tee.UUID, c *channel.Client) (uint32, error) {
	now := t.Clock.NowMs()
	t.chans.mu.Lock()
	defer t.chans.mu.Unlock()
	if t.chans.byID == nil {
		t.chans.byID = make(map[uint32]*openChannel)
	}
	var mine []uint32
	for h, ch := range t.chans.byID {
		if now-ch.lastMs > payproto.ChannelIdleMs {
			delete(t.chans.byID, h)
			continue
		}
		if ch.owner == owner {
			mine = append(mine, h)
		}
	}
	if len(mine) >= t.maxChannelsPerIdentity() {
		oldest := mine[0]
		for _, h := range mine {
			if t.chans.byID[h].lastMs < t.chans.byID[oldest].lastMs {
				oldest = h
			}
		}
		delete(t.chans.byID, oldest)
	}
	if len(t.chans.byID) >= payproto.MaxChannels {
		return 0, payproto.ErrChannelsBusy
	}
	for {
		var b [4]byte
		if _, err := t.Rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("payment: channel handle: %w", err)
		}
		h := binary.BigEndian.Uint32(b[:])
		if _, taken := t.chans.byID[h]; h != 0 && !taken {
			t.chans.byID[h] = &openChannel{owner: owner, client: c, lastMs: now}
			return h, nil
		}
	}
}

// channel returns owner's open channel h, locked, or ErrNoChannel (also
// for another identity's channel: nothing tells them apart).
func (t *TA) channel(owner tee.UUID, h uint32) (*openChannel, error) {
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	now := t.Clock.NowMs()
	t.chans.mu.Lock()
	ch, ok := t.chans.byID[h]
	if ok && now-ch.lastMs > payproto.ChannelIdleMs {
		delete(t.chans.byID, h)
		ok = false
	}
	t.chans.mu.Unlock()
	if !ok || ch.owner != owner {
		return nil, payproto.ErrNoChannel
	}
	ch.mu.Lock()
	ch.lastMs = now
	return ch, nil
}

// channelFailed forgets channel h (its state machine is dead) and returns
// ErrChannelFailed with the rule that failed.
func (t *TA) channelFailed(h uint32, err error) error {
	if h != 0 {
		t.chans.mu.Lock()
		delete(t.chans.byID, h)
		t.chans.mu.Unlock()
	}
	t.Log.Warn("channel failed", zap.Uint32("handle", h), zap.Error(err))
	if errors.Is(err, payproto.ErrChannelFailed) {
		return err
	}
	return fmt.Errorf("%w: %w", payproto.ErrChannelFailed, err)
}

// ContinueChannel hands the server's handshake message to channel h.
func (t *TA) ContinueChannel(owner tee.UUID, h uint32, msg []byte) ([]byte, bool, error) {
	ch, err := t.channel(owner, h)
	if err != nil {
		return nil, false, err
	}
	defer ch.mu.Unlock()
	out, est, err := ch.client.Continue(msg)
	if err != nil {
		return nil, false, t.channelFailed(h, err)
	}
	if est {
		t.Log.Info("channel established", zap.Uint32("handle", h), zap.Stringer("profile", ch.client.Profile()))
	}
	return out, est, nil
}

// SealChannel seals an application message on channel h: the device id
// and the user id (owner's 16 bytes) are the TA's, custom the caller's.
func (t *TA) SealChannel(owner tee.UUID, h uint32, custom []byte) ([]byte, error) {
	if len(custom) > chanwire.MaxCustom {
		return nil, fmt.Errorf("%w: custom info of %d bytes, max %d", payproto.ErrBadRequest, len(custom), chanwire.MaxCustom)
	}
	ch, err := t.channel(owner, h)
	if err != nil {
		return nil, err
	}
	defer ch.mu.Unlock()
	return t.sealLocked(ch, owner, h, custom)
}

func (t *TA) sealLocked(ch *openChannel, owner tee.UUID, h uint32, custom []byte) ([]byte, error) {
	rec, err := ch.client.Seal(chanwire.AppMessage{DeviceID: t.deviceIDText(), UserID: bytes.Clone(owner[:]), Custom: custom})
	if err != nil {
		return nil, t.channelFailed(h, err)
	}
	return rec, nil
}

// SealChannelPayment signs a payment exactly as SignPayment does and seals
// the statement into a record of channel h, which must be established
// (checked first: an authorisation is spent only when the record can be
// made). The statement does not leave the TA in the clear.
func (t *TA) SealChannelPayment(ctx context.Context, owner tee.UUID, h uint32, ref payproto.KeyRef, challenge uint64, payload, passwordHAT []byte) ([]byte, error) {
	ch, err := t.channel(owner, h)
	if err != nil {
		return nil, err
	}
	defer ch.mu.Unlock()
	if !ch.client.Established() {
		return nil, t.channelFailed(h, channel.ErrNotEstablished)
	}
	st, err := t.SignPaymentWithPassword(ctx, owner, ref, challenge, payload, passwordHAT)
	if err != nil {
		return nil, err
	}
	return t.sealLocked(ch, owner, h, st)
}

// OpenChannelRecord opens a record from the server on channel h and
// returns its custom info (the feedback). Beyond the channel's checks,
// the message must name this device and owner (§8.11): a feedback meant
// for another device or user kills the channel.
func (t *TA) OpenChannelRecord(owner tee.UUID, h uint32, rec []byte) ([]byte, error) {
	ch, err := t.channel(owner, h)
	if err != nil {
		return nil, err
	}
	defer ch.mu.Unlock()
	m, err := ch.client.OpenRecord(rec)
	if err != nil {
		return nil, t.channelFailed(h, err)
	}
	if t.weak != IgnoreAddressee && (!bytes.Equal(m.DeviceID, t.deviceIDText()) || !bytes.Equal(m.UserID, owner[:])) {
		return nil, t.channelFailed(h, errors.New("feedback addressed to another device or user"))
	}
	return m.Custom, nil
}

// CloseChannel forgets owner's channel h.
func (t *TA) CloseChannel(owner tee.UUID, h uint32) error {
	ch, err := t.channel(owner, h)
	if err != nil {
		return err
	}
	ch.mu.Unlock()
	t.chans.mu.Lock()
	delete(t.chans.byID, h)
	t.chans.mu.Unlock()
	return nil
}

func (t *TA) maxChannelsPerIdentity() int { return payproto.MaxChannelsPerIdentity }
