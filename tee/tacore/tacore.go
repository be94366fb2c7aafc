// Package tacore is the part of a trusted application every fpemu TA
// shares: its base configuration (identity, clock, logger, randomness,
// sealed store, envelope opener and replay guard, auth-token MAC
// algorithm), one constructor that validates it and opens what the TA owns,
// the installation of Keymaster's auth-token key (SET_AUTH_TOKEN_KEY), the
// mapping of TA errors to TEEC results, and the store transaction helper.
// A TA embeds Config in its own Config and *Core in its TA, and keeps only
// what is its own.
//
// tacore is TA-side: it imports tee/store and tee/envelope. The REE never
// needs it — a client imports the TA's protocol package
// (docs/architecture.md, "Protocol packages").
package tacore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/marks"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// Config is the configuration every TA shares. A TA's Config embeds it.
type Config struct {
	// Self is this TA's UUID (a TA of the manifest, tee.RoleOf).
	Self tee.UUID
	// StorageKey is the TA storage key (≥ 16 bytes) provisioned at boot;
	// it keys the sealed store when DBPath is used.
	StorageKey []byte

	// Exactly one of Store and DBPath. With Store the caller owns the store
	// (opened with the TA's schema) and Close leaves it open; with DBPath
	// New opens it with StoreOptions and Close closes it.
	Store        *store.Store
	DBPath       string
	StoreOptions []store.Option

	// Exactly one of Keys and Opener. With Keys (the TA's pairwise envelope
	// keys) New builds the envelope.Opener with the TA's replay guard —
	// by default marks persisted in the store (tee/marks), scoped to
	// BootID. With Opener the caller chose the replay guard.
	Keys   envelope.Keyring
	Opener *envelope.Opener
	// BootID identifies the current device boot (1..marks.MaxBootIDLen
	// bytes); required with Keys, and always for a TA whose Spec sets
	// RequireBootID. Replay marks of another boot are ignored.
	BootID []byte

	// MACAlgorithm of the auth tokens (tokens.HMACSHA256, AOSP's, unless
	// the device is configured for GM/T HMAC-SM3).
	MACAlgorithm tokens.MACAlgorithm
	// Clock is the device boot clock.
	Clock tee.Clock
	// Logger gets the TA's log lines; it should come from
	// tee.NewLogger(role, ...), which adds the component field. nil
	// discards logs.
	Logger *zap.Logger
	// Rand is the TA's source of randomness (nil: crypto/rand).
	Rand io.Reader
}

// Spec is what a TA tells New about itself: constants of its code, not
// configuration.
type Spec struct {
	// Name prefixes errors ("gatekeeper").
	Name string
	// Role, if set, is the only role Self may be; otherwise any TA of the
	// manifest.
	Role tee.Role
	// Schema is the migrations of the TA's sealed store.
	Schema store.Schema
	// Marks is the replay-mark table of the TA's store (tee/marks), used
	// with Config.Keys unless Guard is set.
	Marks marks.Table
	// Guard, if set, builds the replay guard of the Opener New builds with
	// Config.Keys, over the opened store (a TA that stages its marks with
	// its own writes).
	Guard func(st *store.Store) (envelope.ReplayGuard, error)
	// RequireBootID makes Config.BootID required (1..marks.MaxBootIDLen
	// bytes) even with an Opener: for a TA that scopes state of its own to
	// the boot (the fingerprint TA's timed-lockout deadlines).
	RequireBootID bool
	// ErrConfig is the TA's own configuration sentinel; errors of New
	// about the configuration wrap it as well as ErrConfig.
	ErrConfig error
	// CounterLagCommits makes Tx treat store.ErrCounterLag — the
	// transaction committed, the rollback counter (RPMB stand-in) was not
	// advanced — as success, logged: for a TA that must act on a durable
	// change (the payment TA has consumed an envelope's replay mark or
	// used a statement counter). The store catches the counter up at the
	// next open (docs/protocol.md §6.6).
	CounterLagCommits bool
	// NoStore is set by a TA that keeps no sealed store and opens no
	// envelopes (Keymaster: its state lives for one boot and it only seals).
	// New then requires Store, DBPath, Keys, Opener and BootID unset and
	// opens nothing; the Core's Store and Opener stay nil, and Tx and
	// SetAuthTokenKey fail with ErrNoStore.
	NoStore bool
}

// Errors of New and SetAuthTokenKey beyond the envelope package's.
var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("tacore: bad configuration")
	// ErrWrongSender: the auth-token key envelope did not come from
	// Keymaster (TEEError: ACCESS_DENIED).
	ErrWrongSender = errors.New("tacore: auth-token key envelope not from keymaster")
	// ErrKeyPayload: the envelope is not an auth-token key of
	// tokens.KeySize bytes (TEEError: BAD_FORMAT).
	ErrKeyPayload = errors.New("tacore: envelope is not an auth-token key")
	// ErrNoAuthTokenKey: a command needs Keymaster's auth-token key and it
	// has not arrived (TEEError: BAD_STATE). AOSP GateKeeper::MintAuthToken
	// would fill the hmac with zeros; fpemu refuses to mint or check such
	// a token.
	ErrNoAuthTokenKey = errors.New("tacore: auth-token key not received from keymaster")
	// ErrNoStore: Tx or SetAuthTokenKey on the Core of a TA built with
	// Spec.NoStore, which has no store and no envelope opener.
	ErrNoStore = errors.New("tacore: TA has no sealed store or envelope opener")
)

// Core is the shared state of a TA. Its methods are safe for concurrent
// use. The exported fields are set by New and never change.
type Core struct {
	Self   tee.UUID
	Role   tee.Role
	Store  *store.Store
	Opener *envelope.Opener
	BootID []byte
	Clock  tee.Clock
	Log    *zap.Logger
	Rand   io.Reader
	MACAlg tokens.MACAlgorithm

	name      string
	ownsStore bool
	lagCommit bool

	mu  sync.RWMutex
	mac *tokens.MAC // nil until SET_AUTH_TOKEN_KEY
}

// New validates cfg, opens the store (with DBPath) and builds the opener
// (with Keys). On error it closes only what it opened.
func New(cfg Config, spec Spec) (*Core, error) {
	bad := func(format string, a ...any) error {
		if spec.ErrConfig != nil {
			return fmt.Errorf("%w: %w: "+format, append([]any{spec.ErrConfig, ErrConfig}, a...)...)
		}
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	role, ok := tee.RoleOf(cfg.Self)
	switch {
	case !ok:
		return nil, bad("self %s is not a TA of the manifest", cfg.Self)
	case spec.Role != "" && role != spec.Role:
		return nil, bad("self %s is not the %s TA", cfg.Self, spec.Role)
	case cfg.Clock == nil:
		return nil, bad("nil clock")
	case spec.NoStore && (cfg.Store != nil || cfg.DBPath != "" || cfg.Keys != nil || cfg.Opener != nil || cfg.BootID != nil):
		return nil, bad("%s keeps no store and opens no envelopes: Store, DBPath, Keys, Opener and BootID must be unset", spec.Name)
	case spec.NoStore:
	case spec.RequireBootID && (len(cfg.BootID) == 0 || len(cfg.BootID) > marks.MaxBootIDLen):
		return nil, bad("boot id must be 1..%d bytes", marks.MaxBootIDLen)
	case (cfg.Store == nil) == (cfg.DBPath == ""):
		return nil, bad("set exactly one of Store and DBPath")
	case (cfg.Opener == nil) == (cfg.Keys == nil):
		return nil, bad("set exactly one of Keys and Opener")
	case cfg.Opener != nil && cfg.Opener.Self() != cfg.Self:
		return nil, bad("opener is for %s, not %s", cfg.Opener.Self(), cfg.Self)
	case cfg.MACAlgorithm != tokens.HMACSHA256 && cfg.MACAlgorithm != tokens.HMACSM3:
		return nil, bad("MAC algorithm %v", cfg.MACAlgorithm)
	}
	c := &Core{
		Self: cfg.Self, Role: role, Store: cfg.Store, Opener: cfg.Opener,
		BootID: bytes.Clone(cfg.BootID), Clock: cfg.Clock, Log: cfg.Logger,
		Rand: cfg.Rand, MACAlg: cfg.MACAlgorithm, name: spec.Name,
		lagCommit: spec.CounterLagCommits,
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if spec.NoStore {
		return c, nil
	}
	if c.Store == nil {
		opts := append([]store.Option{store.WithLogger(c.Log)}, cfg.StoreOptions...)
		st, err := store.Open(cfg.DBPath, cfg.StorageKey, spec.Schema, opts...)
		if err != nil {
			return nil, fmt.Errorf("%s: open store: %w", spec.Name, err)
		}
		c.Store, c.ownsStore = st, true
	}
	if c.Opener == nil {
		var guard envelope.ReplayGuard
		var err error
		if spec.Guard != nil {
			guard, err = spec.Guard(c.Store)
		} else {
			var m envelope.MarkStore
			if m, err = marks.NewStore(c.Store, spec.Marks, cfg.BootID); err == nil {
				guard = envelope.NewMarkGuard(m)
			}
		}
		if err == nil {
			c.Opener, err = envelope.NewOpener(cfg.Self, cfg.Keys, guard)
		}
		if err != nil {
			c.closeStore()
			return nil, bad("%w", err)
		}
	}
	return c, nil
}

// Close forgets the auth-token key and closes the store if New opened it.
// It is idempotent.
func (c *Core) Close() error {
	c.mu.Lock()
	c.mac = nil
	c.mu.Unlock()
	return c.closeStore()
}

func (c *Core) closeStore() error {
	if c.ownsStore && c.Store != nil {
		return c.Store.Close()
	}
	return nil
}

// HasAuthTokenKey reports whether Keymaster's auth-token key has arrived.
func (c *Core) HasAuthTokenKey() bool { return c.AuthTokenMAC() != nil }

// AuthTokenMAC returns the MAC keyed with Keymaster's auth-token key, or
// nil before SET_AUTH_TOKEN_KEY.
func (c *Core) AuthTokenMAC() *tokens.MAC {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.mac
}

// SetAuthTokenKey opens env, an envelope Keymaster sealed for this TA in
// answer to GET_AUTH_TOKEN_KEY (the analogue of Trusty's
// keymaster_get_auth_token_key), and installs the key it carries. Only an
// authentic, fresh envelope of type envelope.MsgAuthTokenKey from Keymaster
// with a tokens.KeySize payload is accepted (errors wrap the envelope
// sentinels, ErrWrongSender or ErrKeyPayload); a later envelope replaces
// the key.
func (c *Core) SetAuthTokenKey(env []byte) error {
	if c.Opener == nil {
		return fmt.Errorf("%s: %w", c.name, ErrNoStore)
	}
	m, err := c.Opener.Open(env)
	if err != nil {
		return err
	}
	defer clear(m.Payload)
	if m.From != tee.UUIDKeymaster {
		return fmt.Errorf("%s: %w: from %s", c.name, ErrWrongSender, m.From)
	}
	if m.Type != envelope.MsgAuthTokenKey {
		return fmt.Errorf("%s: %w: message type %s", c.name, ErrKeyPayload, m.Type)
	}
	if err := c.InstallAuthTokenKey(m.Payload); err != nil {
		return err
	}
	c.Log.Info("auth-token key installed", zap.Uint64("envelope_seq", m.Seq))
	return nil
}

// InstallAuthTokenKey installs key, Keymaster's auth-token key taken from
// an envelope the TA opened itself, for the device's MAC algorithm: the
// step of SetAuthTokenKey after the envelope checks, for a TA that opens
// its envelopes with a replay guard of its own (the payment TA commits the
// replay mark in its own transaction). A key that is not tokens.KeySize
// bytes is ErrKeyPayload; a later key replaces the earlier one.
func (c *Core) InstallAuthTokenKey(key []byte) error {
	if len(key) != tokens.KeySize {
		return fmt.Errorf("%s: %w: %d bytes, want %d", c.name, ErrKeyPayload, len(key), tokens.KeySize)
	}
	mac, err := tokens.NewMAC(c.MACAlg, key)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", c.name, ErrKeyPayload, err)
	}
	c.mu.Lock()
	c.mac = mac
	c.mu.Unlock()
	return nil
}

// ErrNoWrite, returned by a Tx function, rolls the transaction back and
// counts as success: the function decided nothing must change.
var ErrNoWrite = errors.New("tacore: no state change")

// Tx runs fn in one write transaction of the store (docs/architecture.md
// rule 5: a state change is one transaction); fn returning ErrNoWrite rolls
// back and Tx returns nil. With Spec.CounterLagCommits, a commit whose
// rollback counter could not be advanced (store.ErrCounterLag) is logged
// and returns nil: the state the caller acts on is durable.
func (c *Core) Tx(ctx context.Context, fn func(tx *store.Tx) error) error {
	if c.Store == nil {
		return fmt.Errorf("%s: %w", c.name, ErrNoStore)
	}
	err := c.Store.Tx(ctx, fn)
	switch {
	case errors.Is(err, ErrNoWrite):
		return nil
	case c.lagCommit && errors.Is(err, store.ErrCounterLag):
		c.Log.Error("rollback counter lags the store", zap.Error(err))
		return nil
	}
	return err
}

// RandomUint64 returns 64 random bits from Rand.
func (c *Core) RandomUint64() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.Rand, b[:]); err != nil {
		return 0, fmt.Errorf("%s: random: %w", c.name, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// RandomNonZero returns a random non-zero 64-bit value: secure user ids,
// challenges and authenticator ids, for which 0 means "none" to Keymaster,
// the HAL and VTS (Gatekeeper EnrollSuccess: secureUserId != 0), so a zero
// is redrawn.
func (c *Core) RandomNonZero() (uint64, error) {
	for {
		v, err := c.RandomUint64()
		if err != nil || v != 0 {
			return v, err
		}
	}
}

// TEEError maps a TA error to what its InvokeCommand entry point returns
// (GPD_SPE_010 §4.9: a TEEC result with origin TEEC_ORIGIN_TRUSTED_APP):
//
//   - an envelope refusal as envelope.TEEResult (malformed BAD_FORMAT; not
//     meant for this TA, unknown sender or type ACCESS_DENIED; forged or
//     replayed SECURITY — docs/protocol.md §4.5);
//   - the sentinels of this package: ErrKeyPayload BAD_FORMAT,
//     ErrWrongSender ACCESS_DENIED, ErrNoAuthTokenKey BAD_STATE;
//   - an error with a *tee.Error in its chain (a TA's own refusals) as
//     that code;
//   - anything else (the store) is returned as is: the host answers
//     TEEC_ERROR_GENERIC and keeps the text in the TA's log.
//
// The result keeps err's text as Detail, which never travels on the wire.
func TEEError(err error) error {
	if err == nil {
		return nil
	}
	code, ok := envelope.TEEResult(err)
	var te *tee.Error
	switch {
	case ok:
	case errors.Is(err, ErrKeyPayload):
		code = tee.ResultBadFormat
	case errors.Is(err, ErrWrongSender):
		code = tee.ResultAccessDenied
	case errors.Is(err, ErrNoAuthTokenKey):
		code = tee.ResultBadState
	case errors.As(err, &te):
		code = te.Code
	default:
		return err
	}
	return &tee.Error{Code: code, Origin: tee.OriginTrustedApp, Detail: err.Error()}
}
