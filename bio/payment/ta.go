package payment

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// TAVersion is the payment TA version signed into every statement.
const TAVersion uint32 = 1

// Defaults and bounds.
const (
	// DefaultAuthResultTTL is how long a successful auth result stays
	// usable after the match (boot clock), like the 30 s of SOTER's and
	// Android's fingerprint-bound keys.
	DefaultAuthResultTTL = 30 * time.Second
	// MaxKeysPerIdentity bounds the keys (app and scene together) one
	// client identity may hold; CREATE_APP_KEY and CREATE_SCENE_KEY
	// beyond it fail with ErrQuota (TEEC_ERROR_OUT_OF_MEMORY).
	MaxKeysPerIdentity = 16
	// MaxChallengesPerIdentity bounds the payment challenges (with the
	// auth result delivered for each) one identity may have outstanding:
	// BEGIN_PAYMENT beyond it forgets that identity's oldest challenge.
	MaxChallengesPerIdentity = 4
	// MaxPendingChallenges bounds the outstanding payment challenges of
	// all identities together: BEGIN_PAYMENT beyond it, once expired ones
	// are dropped, fails with ErrChallengesBusy (TEEC_ERROR_BUSY) rather
	// than evict another identity's challenge.
	MaxPendingChallenges = 64
	// MaxPayload bounds a SIGN_PAYMENT payload (it is hashed, not stored).
	MaxPayload = 64 << 10
	// MaxClockSkewMs is how far an auth result's timestamp may be ahead of
	// the payment TA's boot clock. Both TAs read the same device clock,
	// so a match is never later than its delivery; the margin only absorbs
	// rounding.
	MaxClockSkewMs = 1000
)

// Config holds the explicit dependencies of the payment TA.
type Config struct {
	// Self is this TA's UUID (tee.UUIDPayment on an fpemu device).
	Self tee.UUID
	// StorageKey is the TA storage key (≥ 16 bytes) provisioned at boot.
	StorageKey []byte
	// Exactly one of Store and DBPath. With Store the caller owns the store
	// (opened with Schema()); with DBPath NewTA opens it with StoreOptions
	// and Close closes it.
	Store        *store.Store
	DBPath       string
	StoreOptions []store.Option
	// Keys are the TA's pairwise envelope keys (fingerprint → payment,
	// keymaster → payment).
	Keys envelope.Keyring
	// BootID identifies the current boot (1..64 bytes); replay marks of
	// another boot are ignored.
	BootID []byte
	// MACAlgorithm of the device's auth tokens, the one Keymaster MACs
	// HATs with (tokens.HMACSHA256, AOSP's and the zero value, unless the
	// device is configured for GM/T HMAC-SM3). The auth-token key relayed
	// by SET_AUTH_TOKEN_KEY is installed for this algorithm.
	MACAlgorithm tokens.MACAlgorithm
	// Clock is the device boot clock (auth result expiry).
	Clock tee.Clock
	// AuthResultTTL is how long an auth result is usable after its match;
	// DefaultAuthResultTTL when zero.
	AuthResultTTL time.Duration
	// Logger gets the TA's log lines (tee.NewLogger("payment", ...) adds
	// the component field). The TA logs app ids, scenes, groups, finger
	// ids, counters and results — never keys, challenges or payloads.
	// nil discards logs.
	Logger *zap.Logger
}

// TA is the payment trusted application. Its methods are safe for
// concurrent use.
type TA struct {
	self      tee.UUID
	st        *store.Store
	ownsStore bool
	opener    *envelope.Opener
	guard     *stagedGuard
	bootID    []byte
	clock     tee.Clock
	ttlMs     uint64
	macAlg    tokens.MACAlgorithm
	log       *zap.Logger

	devCert []byte // signed device certificate
	devID   proof.DeviceID

	deliverMu sync.Mutex // serialises Open + mark commit

	mu      sync.Mutex
	pending map[uint64]*pendingPayment // by challenge (= auth result transaction id)
	hatKey  *tokens.MAC                // Keymaster's auth-token key, once relayed
}

// NewTA validates cfg, opens the store, creates the device attestation key
// on first boot (or loads it) and returns the TA.
func NewTA(cfg Config) (*TA, error) {
	if cfg.Self != tee.UUIDPayment {
		return nil, fmt.Errorf("%w: self %s is not the payment TA", ErrConfig, cfg.Self)
	}
	if cfg.Clock == nil {
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
	}
	if (cfg.Store == nil) == (cfg.DBPath == "") {
		return nil, fmt.Errorf("%w: set exactly one of Store and DBPath", ErrConfig)
	}
	if len(cfg.BootID) == 0 || len(cfg.BootID) > 64 {
		return nil, fmt.Errorf("%w: boot id must be 1..64 bytes", ErrConfig)
	}
	if cfg.AuthResultTTL < 0 {
		return nil, fmt.Errorf("%w: negative auth result TTL", ErrConfig)
	}
	if cfg.MACAlgorithm != tokens.HMACSHA256 && cfg.MACAlgorithm != tokens.HMACSM3 {
		return nil, fmt.Errorf("%w: MAC algorithm %v", ErrConfig, cfg.MACAlgorithm)
	}
	ttl := cfg.AuthResultTTL
	if ttl == 0 {
		ttl = DefaultAuthResultTTL
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t := &TA{
		self: cfg.Self, bootID: bytes.Clone(cfg.BootID), clock: cfg.Clock,
		ttlMs: uint64(ttl / time.Millisecond), macAlg: cfg.MACAlgorithm, log: log,
		pending: make(map[uint64]*pendingPayment),
	}
	t.guard = &stagedGuard{ta: t}
	var err error
	t.opener, err = envelope.NewOpener(cfg.Self, cfg.Keys, t.guard)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	t.st = cfg.Store
	if t.st == nil {
		opts := append([]store.Option{store.WithLogger(log)}, cfg.StoreOptions...)
		if t.st, err = store.Open(cfg.DBPath, cfg.StorageKey, Schema(), opts...); err != nil {
			return nil, fmt.Errorf("payment: open store: %w", err)
		}
		t.ownsStore = true
	}
	if err := t.initDevice(context.Background()); err != nil {
		t.closeStore()
		return nil, err
	}
	return t, nil
}

var deviceRef = KeyRef{}

// initDevice loads the device attestation key, creating it (and its
// self-signed certificate) in one transaction on first boot.
func (t *TA) initDevice(ctx context.Context) error {
	created := false
	err := t.st.Tx(ctx, func(tx *store.Tx) error {
		created = false
		rec, ok, err := loadKey(tx, proof.KindDevice, deviceRef)
		if err != nil {
			return err
		}
		if !ok {
			priv, err := sm2.GenerateKey(rand.Reader)
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
	t.log.Info("device attestation key ready", zap.Bool("created", created))
	return nil
}

// Close releases the store if NewTA opened it.
func (t *TA) Close() error {
	t.mu.Lock()
	clear(t.pending)
	t.hatKey = nil
	t.mu.Unlock()
	return t.closeStore()
}

func (t *TA) closeStore() error {
	if t.ownsStore {
		return t.st.Close()
	}
	return nil
}

// DeviceCert returns the signed, self-signed device attestation
// certificate (proof.VerifyDeviceCert).
func (t *TA) DeviceCert() []byte { return bytes.Clone(t.devCert) }

// DeviceID returns the device identifier.
func (t *TA) DeviceID() proof.DeviceID { return t.devID }

// HasAuthTokenKey reports whether Keymaster's auth-token key has arrived.
func (t *TA) HasAuthTokenKey() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hatKey != nil
}

// privateKey rebuilds an SM2 private key from a record's scalar.
func privateKey(r *keyRecord) (*sm2.PrivateKey, error) {
	k, err := sm2.NewPrivateKey(r.scalar[:])
	if err != nil {
		return nil, fmt.Errorf("%w: key scalar: %v", ErrCorruptRecord, err)
	}
	return k, nil
}

// errNoWrite rolls back a transaction that decided nothing must change.
var errNoWrite = errors.New("payment: no state change")

// tx runs fn in one write transaction; fn returning errNoWrite rolls back
// and counts as success. A commit whose rollback counter could not be
// advanced (store.ErrCounterLag) is committed: it is logged and treated
// as success, since the state the caller acts on is durable.
func (t *TA) tx(ctx context.Context, fn func(tx *store.Tx) error) error {
	err := t.st.Tx(ctx, fn)
	switch {
	case errors.Is(err, errNoWrite):
		return nil
	case errors.Is(err, store.ErrCounterLag):
		t.log.Error("rollback counter lags the store", zap.Error(err))
		return nil
	}
	return err
}

// String describes the TA without secrets.
func (t *TA) String() string {
	return fmt.Sprintf("payment.TA(%s, device %x)", t.self, t.devID[:4])
}
