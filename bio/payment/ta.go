package payment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
)

// TAVersion is the payment TA version signed into every statement.
const TAVersion uint32 = 1

// Defaults and bounds of this implementation (the bounds a client can run
// into are payproto's: MaxPayload, MaxKeysPerIdentity, ...).
const (
	// DefaultAuthResultTTL is how long a successful auth result stays
	// usable after the match (boot clock), like the 30 s of SOTER's and
	// Android's fingerprint-bound keys.
	DefaultAuthResultTTL = 30 * time.Second
	// MaxClockSkewMs is how far an auth result's timestamp may be ahead of
	// the payment TA's boot clock. Both TAs read the same device clock,
	// so a match is never later than its delivery; the margin only absorbs
	// rounding.
	MaxClockSkewMs = 1000
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("payment: bad configuration")

// ErrCorruptRecord: a sealed row opened but does not hold what its
// identity says.
var ErrCorruptRecord = errors.New("payment: stored record inconsistent with its row")

// Config holds the explicit dependencies of the payment TA: the base every
// TA shares, with Keys (fingerprint → payment, keymaster → payment), not
// Opener — the TA opens envelopes with its own staged replay guard — and
// BootID of 1..64 bytes. A caller that opens the store itself (Store)
// opens it with Schema(). MACAlgorithm is the device's, the one Keymaster
// MACs HATs with; the auth-token key relayed by SET_AUTH_TOKEN_KEY is
// installed for it. The TA logs app ids, scenes, groups, finger ids,
// counters and results — never keys, challenges or payloads.
type Config struct {
	tacore.Config
	// AuthResultTTL is how long an auth result is usable after its match;
	// DefaultAuthResultTTL when zero.
	AuthResultTTL time.Duration
	// Anchors are the trusted channel's trust anchors from the
	// provisioning record (payproto.TrustAnchors wire form; boot.Record's
	// Anchors). None: the channel commands answer
	// payproto.ErrChannelNotProvisioned.
	Anchors []byte
	// WallClock is the clock certificate validity is checked against
	// (default time.Now).
	WallClock func() time.Time
	// Weakened turns off one of the TA's own channel rules. It exists
	// only for the attack suite's canary doubles (sim/tas), which show
	// that a row catches a TA without the rule; the zero value keeps
	// every rule, and no device sets it.
	Weakened ChannelWeakening
}

// TA is the payment trusted application. Its methods are safe for
// concurrent use. HasAuthTokenKey and Close are the shared core's
// (tacore); SetAuthTokenKey is the TA's own (its envelope's replay mark is
// committed with the key).
type TA struct {
	*tacore.Core
	tacore.Commands[session, payproto.Command] // OpenSession, CommandName

	guard *stagedGuard
	ttlMs uint64

	devCert []byte // signed device certificate
	devID   proof.DeviceID

	deliverMu sync.Mutex // serialises Open + mark commit

	mu      sync.Mutex
	pending map[uint64]*pendingPayment // by challenge (= auth result transaction id)

	anchors   *anchors // nil: not provisioned for the channel
	wallClock func() time.Time
	chans     channels
	weak      ChannelWeakening
}

// NewTA validates cfg, opens the store, creates the device attestation key
// on first boot (or loads it) and returns the TA.
func NewTA(cfg Config) (*TA, error) {
	switch {
	case cfg.Opener != nil:
		return nil, fmt.Errorf("%w: %w: the payment TA opens envelopes with its own replay guard: set Keys, not Opener", ErrConfig, tacore.ErrConfig)
	case len(cfg.BootID) == 0 || len(cfg.BootID) > 64:
		return nil, fmt.Errorf("%w: %w: boot id must be 1..64 bytes", ErrConfig, tacore.ErrConfig)
	case cfg.AuthResultTTL < 0:
		return nil, fmt.Errorf("%w: %w: negative auth result TTL", ErrConfig, tacore.ErrConfig)
	}
	ttl := cfg.AuthResultTTL
	if ttl == 0 {
		ttl = DefaultAuthResultTTL
	}
	t := &TA{pending: make(map[uint64]*pendingPayment), wallClock: cfg.WallClock, weak: cfg.Weakened}
	var err error
	if t.anchors, err = parseAnchors(cfg.Anchors); err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrConfig, tacore.ErrConfig, err)
	}
	if t.Commands, err = tacore.NewCommands("payment", commands, t.newSession); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g := &stagedGuard{bootID: bytes.Clone(cfg.BootID)}
	core, err := tacore.New(cfg.Config, tacore.Spec{
		Name: "payment", Role: tee.RolePayment, Schema: Schema(), ErrConfig: ErrConfig,
		Guard: func(st *store.Store) (envelope.ReplayGuard, error) {
			g.st = st
			return g, nil
		},
		CounterLagCommits: true,
	})
	if err != nil {
		return nil, err
	}
	t.Core, t.guard, t.ttlMs = core, g, uint64(ttl/time.Millisecond)
	if err := t.initDevice(context.Background()); err != nil {
		_ = core.Close()
		return nil, err
	}
	return t, nil
}

var deviceRef = payproto.KeyRef{}

// initDevice loads the device attestation key, creating it (and its
// self-signed certificate) in one transaction on first boot.
func (t *TA) initDevice(ctx context.Context) error {
	created := false
	err := t.Store.Tx(ctx, func(tx *store.Tx) error {
		created = false
		rec, ok, err := loadKey(tx, proof.KindDevice, deviceRef)
		if err != nil {
			return err
		}
		if !ok {
			priv, err := sm2.GenerateKey(t.Rand)
			if err != nil {
				return fmt.Errorf("payment: generate device key: %w", err)
			}
			serial, err := nextCounter(tx)
			if err != nil {
				return err
			}
			pub := proof.PublicKeyOf(&priv.PublicKey)
			body, err := proof.Cert{Kind: proof.KindDevice, DeviceID: proof.DeviceIDOf(pub), Serial: serial, PublicKey: pub}.Marshal()
			if err != nil {
				return err
			}
			signed, err := proof.Sign(priv, body)
			if err != nil {
				return err
			}
			rec = keyRecord{kind: proof.KindDevice, cert: signed}
			priv.D.FillBytes(rec.scalar[:])
			t.stamp(&rec)
			defer clear(rec.scalar[:])
			if err := putKey(tx, deviceRef, &rec); err != nil {
				return err
			}
			created = true
		}
		c, err := proof.VerifyDeviceCert(rec.cert)
		if err != nil {
			return fmt.Errorf("%w: device certificate: %w", ErrCorruptRecord, err)
		}
		t.devCert, t.devID = rec.cert, c.DeviceID
		clear(rec.scalar[:])
		return nil
	})
	if err != nil {
		return fmt.Errorf("payment: device key: %w", err)
	}
	t.Log.Info("device attestation key ready", zap.Bool("created", created))
	return nil
}

// Close forgets the pending challenges and the auth-token key and closes
// the store if NewTA opened it.
func (t *TA) Close() error {
	t.mu.Lock()
	clear(t.pending)
	t.mu.Unlock()
	t.chans.mu.Lock()
	clear(t.chans.byID)
	t.chans.mu.Unlock()
	return t.Core.Close()
}

// DeviceCert returns the signed, self-signed device attestation
// certificate (proof.VerifyDeviceCert).
func (t *TA) DeviceCert() []byte { return bytes.Clone(t.devCert) }

// DeviceID returns the device identifier.
func (t *TA) DeviceID() proof.DeviceID { return t.devID }

// privateKey rebuilds an SM2 private key from a record's scalar.
func privateKey(r *keyRecord) (*sm2.PrivateKey, error) {
	k, err := sm2.NewPrivateKey(r.scalar[:])
	if err != nil {
		return nil, fmt.Errorf("%w: key scalar: %v", ErrCorruptRecord, err)
	}
	return k, nil
}

// String describes the TA without secrets.
func (t *TA) String() string {
	return fmt.Sprintf("payment.TA(%s, device %x)", t.Self, t.devID[:4])
}
