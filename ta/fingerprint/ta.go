package fingerprint

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/taproc"
	"github.com/fpemu/fpemu/tokens"
)

// Errors of construction and of SetAuthTokenKey beyond the envelope
// package's.
var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("fingerprint: bad configuration")
	// ErrWrongSender: the auth-token key envelope did not come from Keymaster.
	ErrWrongSender = errors.New("fingerprint: auth-token key envelope not from keymaster")
	// ErrKeyPayload: the envelope is not an auth-token key of tokens.KeySize bytes.
	ErrKeyPayload = errors.New("fingerprint: envelope is not an auth-token key")
)

// DefaultSensorVersion identifies fpemu's virtual sensor and reference
// matcher in bio auth results (bio.Match.SensorVersion): 1.0.
const DefaultSensorVersion uint32 = 0x00010000

// Outbox is the part of the bio hook FETCH_OUTBOX drains (*bio.Sender).
type Outbox interface {
	Drain(maxBytes int) [][]byte
	Pending() int
	PendingSize() int
}

// Config holds the explicit dependencies of the fingerprint TA.
type Config struct {
	// Self is this TA's UUID (tee.UUIDFingerprint on an fpemu device).
	Self tee.UUID
	// StorageKey is the TA storage key (≥ 16 bytes); it keys the sealed
	// store when DBPath is used.
	StorageKey []byte

	// Exactly one of Store and DBPath. With Store the caller owns the store
	// (opened with Schema()); with DBPath NewTA opens it with StoreOptions
	// and Close closes it.
	Store        *store.Store
	DBPath       string
	StoreOptions []store.Option

	// Exactly one of Keys and Opener. With Keys NewTA builds the
	// envelope.Opener with replay marks persisted in the store
	// (NewMarkStore), scoped to BootID.
	Keys   envelope.Keyring
	Opener *envelope.Opener
	// BootID identifies the current device boot (1..64 bytes). Required:
	// it scopes replay marks and timed-lockout deadlines.
	BootID []byte

	// MACAlgorithm of the auth tokens (tokens.HMACSHA256 unless the device
	// is configured for GM/T).
	MACAlgorithm tokens.MACAlgorithm
	// Clock is the device boot clock (challenge expiry, HAT freshness and
	// timestamps, lockout).
	Clock tee.Clock
	// Logger gets the TA's log lines (tee.NewLogger("fingerprint", ...));
	// the TA logs groups, finger ids, events and reasons, never HATs,
	// SIDs, templates or keys. nil discards logs.
	Logger *zap.Logger

	// Sensor is the virtual sensor (nil: a new idle one). Its control
	// endpoint is served beside the TA (Endpoints).
	Sensor *sensor.Sensor
	// Matcher compares samples and templates (nil: the reference
	// minutiae matcher at its default threshold).
	Matcher matcher.Matcher
	// Hook receives auth results and finger lists for the payment TA
	// (nil: bio.Discard). If it implements Outbox (a *bio.Sender),
	// FETCH_OUTBOX drains it.
	Hook bio.Hook
	// SensorVersion goes into bio auth results (0: DefaultSensorVersion).
	SensorVersion uint32

	// EnrollSamples is the number of good samples an enrollment merges
	// (0: DefaultEnrollSamples).
	EnrollSamples int
	// ChallengeTimeout bounds a PRE_ENROLL challenge (0:
	// DefaultChallengeTimeout).
	ChallengeTimeout time.Duration
	// HATMaxAge bounds the age of ENROLL and RESET_LOCKOUT HATs (0:
	// DefaultHATMaxAge).
	HATMaxAge time.Duration
	// LockoutTimed is how long a timed lockout lasts (0:
	// LockoutTimedDuration, the framework's 30 s). Only the secure
	// world's configuration sets it — no command changes it; tests that
	// walk a group to permanent lockout across processes shorten it.
	// The counts (5, 20) are fixed.
	LockoutTimed time.Duration
}

// TA is the fingerprint trusted application. Its state is shared by every
// session (it serves one REE client, the HAL); its methods are safe for
// concurrent use.
type TA struct {
	self      tee.UUID
	st        *store.Store
	ownsStore bool
	opener    *envelope.Opener
	bootID    []byte
	clock     tee.Clock
	log       *zap.Logger
	macAlg    tokens.MACAlgorithm
	sensor    *sensor.Sensor
	matcher   matcher.Matcher
	hook      bio.Hook
	outbox    Outbox
	sensorVer uint32
	templates templateCache

	enrollSamples int
	challengeTTL  uint64 // ms
	hatMaxAge     time.Duration
	lockoutMs     uint64 // timed lockout

	mu           sync.Mutex
	mac          *tokens.MAC // nil until SET_AUTH_TOKEN_KEY
	challenge    uint64      // 0: none outstanding
	challengeExp uint64      // boot-clock ms
	activeGID    uint32
	activeSet    bool
	started      bool // finger lists pushed to the hook
	op           *operation
	events       []Event
	dropped      uint64
	evChanged    chan struct{}
	closed       bool
}

// NewTA validates cfg, opens the store if needed and returns the TA. It
// holds no auth-token key yet.
func NewTA(cfg Config) (*TA, error) {
	if _, ok := tee.RoleOf(cfg.Self); !ok {
		return nil, fmt.Errorf("%w: self %s is not a TA of the manifest", ErrConfig, cfg.Self)
	}
	if cfg.Clock == nil {
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
	}
	if len(cfg.BootID) == 0 || len(cfg.BootID) > maxBootIDLen {
		return nil, fmt.Errorf("%w: boot id must be 1..%d bytes", ErrConfig, maxBootIDLen)
	}
	if (cfg.Store == nil) == (cfg.DBPath == "") {
		return nil, fmt.Errorf("%w: set exactly one of Store and DBPath", ErrConfig)
	}
	if (cfg.Opener == nil) == (cfg.Keys == nil) {
		return nil, fmt.Errorf("%w: set exactly one of Keys and Opener", ErrConfig)
	}
	if cfg.Opener != nil && cfg.Opener.Self() != cfg.Self {
		return nil, fmt.Errorf("%w: opener is for %s, not %s", ErrConfig, cfg.Opener.Self(), cfg.Self)
	}
	if cfg.MACAlgorithm != tokens.HMACSHA256 && cfg.MACAlgorithm != tokens.HMACSM3 {
		return nil, fmt.Errorf("%w: MAC algorithm %v", ErrConfig, cfg.MACAlgorithm)
	}
	if cfg.LockoutTimed < 0 {
		return nil, fmt.Errorf("%w: negative timed lockout", ErrConfig)
	}
	if cfg.EnrollSamples < 0 || cfg.EnrollSamples > matcher.MaxTemplateWindows {
		return nil, fmt.Errorf("%w: %d enroll samples", ErrConfig, cfg.EnrollSamples)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t := &TA{
		self:          cfg.Self,
		opener:        cfg.Opener,
		bootID:        slices.Clone(cfg.BootID),
		clock:         cfg.Clock,
		log:           log,
		macAlg:        cfg.MACAlgorithm,
		sensor:        cfg.Sensor,
		matcher:       cfg.Matcher,
		hook:          cfg.Hook,
		sensorVer:     cfg.SensorVersion,
		enrollSamples: cmp0(cfg.EnrollSamples, DefaultEnrollSamples),
		challengeTTL:  uint64(cmp0(cfg.ChallengeTimeout, DefaultChallengeTimeout) / time.Millisecond),
		hatMaxAge:     cmp0(cfg.HATMaxAge, DefaultHATMaxAge),
		lockoutMs:     uint64(cmp0(cfg.LockoutTimed, LockoutTimedDuration) / time.Millisecond),
		evChanged:     make(chan struct{}),
	}
	if t.sensor == nil {
		t.sensor = sensor.New()
	}
	if t.matcher == nil {
		t.matcher = matcher.NewMinutiae(matcher.DefaultThreshold)
	}
	if t.hook == nil {
		t.hook = bio.Discard{}
	}
	if o, ok := t.hook.(Outbox); ok {
		t.outbox = o
	}
	if t.sensorVer == 0 {
		t.sensorVer = DefaultSensorVersion
	}

	var err error
	t.st = cfg.Store
	if t.st == nil {
		opts := append([]store.Option{store.WithLogger(log)}, cfg.StoreOptions...)
		if t.st, err = store.Open(cfg.DBPath, cfg.StorageKey, Schema(), opts...); err != nil {
			return nil, fmt.Errorf("fingerprint: open store: %w", err)
		}
		t.ownsStore = true
	}
	if t.opener == nil {
		marks, err := NewMarkStore(t.st, cfg.BootID)
		if err == nil {
			t.opener, err = envelope.NewOpener(cfg.Self, cfg.Keys, envelope.NewMarkGuard(marks))
		}
		if err != nil {
			t.closeStore()
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return t, nil
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close cancels the running operation, forgets the auth-token key and
// releases the store if NewTA opened it. It is idempotent.
func (t *TA) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mac = nil
	op := t.op
	t.mu.Unlock()
	if op != nil {
		op.cancel()
		<-op.done
	}
	return t.closeStore()
}

func (t *TA) closeStore() error {
	if t.ownsStore {
		return t.st.Close()
	}
	return nil
}

// Sensor returns the TA's virtual sensor.
func (t *TA) Sensor() *sensor.Sensor { return t.sensor }

// Endpoints implements taproc.Endpointer: the sensor-control endpoint is
// served on its own socket beside the TA's.
func (t *TA) Endpoints() []taproc.Endpoint {
	return []taproc.Endpoint{{Name: sensor.SocketName, UUID: sensor.UUID, TA: sensor.NewControlTA(t.sensor)}}
}

// HasAuthTokenKey reports whether Keymaster's auth-token key has arrived.
func (t *TA) HasAuthTokenKey() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mac != nil
}

func (t *TA) currentMAC() *tokens.MAC {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mac
}

// SetAuthTokenKey opens env, the envelope Keymaster sealed for this TA in
// answer to GET_AUTH_TOKEN_KEY, and installs the key it carries (errors
// wrap the envelope sentinels, ErrWrongSender or ErrKeyPayload). A later
// envelope replaces the key. The first key starts the TA for the payment
// hook (finger lists).
func (t *TA) SetAuthTokenKey(ctx context.Context, env []byte) error {
	m, err := t.opener.Open(env)
	if err != nil {
		return err
	}
	defer clear(m.Payload)
	if m.From != tee.UUIDKeymaster {
		return fmt.Errorf("%w: from %s", ErrWrongSender, m.From)
	}
	if m.Type != envelope.MsgAuthTokenKey {
		return fmt.Errorf("%w: message type %s", ErrKeyPayload, m.Type)
	}
	if len(m.Payload) != tokens.KeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrKeyPayload, len(m.Payload), tokens.KeySize)
	}
	mac, err := tokens.NewMAC(t.macAlg, m.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyPayload, err)
	}
	t.mu.Lock()
	t.mac = mac
	t.mu.Unlock()
	t.log.Info("auth-token key installed", zap.Uint64("envelope_seq", m.Seq))
	t.start(ctx)
	return nil
}

// start pushes the finger list of every group with templates, and of the
// active group, to the payment hook, once (docs/protocol.md §9.3).
func (t *TA) start(ctx context.Context) {
	t.mu.Lock()
	if t.started {
		t.mu.Unlock()
		return
	}
	t.started = true
	active, activeSet := t.activeGID, t.activeSet
	t.mu.Unlock()
	var groups []uint32
	err := t.st.View(ctx, func(tx *store.Tx) error {
		var err error
		groups, err = listGroups(tx)
		return err
	})
	if err != nil {
		t.log.Error("start: list groups", zap.Error(err))
		return
	}
	if activeSet && !slices.Contains(groups, active) {
		groups = append(groups, active)
	}
	for _, gid := range groups {
		t.pushFingerList(ctx, gid)
	}
	t.log.Info("started", zap.Int("groups", len(groups)))
}

// pushFingerList reports gid's current finger list to the hook.
func (t *TA) pushFingerList(ctx context.Context, gid uint32) {
	var fids []uint32
	var id uint64
	err := t.st.View(ctx, func(tx *store.Tx) error {
		var err error
		if fids, err = listFingers(tx, gid); err != nil {
			return err
		}
		id, err = loadAuthenticatorID(tx, gid)
		return err
	})
	if err == nil {
		err = t.hook.SetFingerList(gid, id, fids)
	}
	if err != nil {
		t.log.Error("finger list not reported", zap.Uint32("gid", gid), zap.Error(err))
	}
}

// randomUint64 draws from crypto/rand.
func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("fingerprint: random: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// randomNonZero returns a random non-zero 64-bit value (challenges,
// authenticator ids: 0 means "none" to the HAL and to Keymaster).
func randomNonZero() (uint64, error) {
	for {
		v, err := randomUint64()
		if err != nil || v != 0 {
			return v, err
		}
	}
}

// PreEnroll is pre_enroll: a fresh random non-zero challenge, replacing any
// earlier one, valid for ChallengeTimeout on the boot clock.
func (t *TA) PreEnroll() (uint64, error) {
	c, err := randomNonZero()
	if err != nil {
		return 0, err
	}
	now := t.clock.NowMs()
	t.mu.Lock()
	t.challenge, t.challengeExp = c, now+t.challengeTTL
	t.mu.Unlock()
	t.log.Info("pre_enroll: challenge issued")
	return c, nil
}

// PostEnroll is post_enroll: the challenge is invalidated.
func (t *TA) PostEnroll() {
	t.mu.Lock()
	t.challenge, t.challengeExp = 0, 0
	t.mu.Unlock()
	t.log.Info("post_enroll: challenge invalidated")
}

// outstandingChallenge returns the challenge if one is valid at nowMs.
func (t *TA) outstandingChallenge(nowMs uint64) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.challenge == 0 || nowMs >= t.challengeExp {
		return 0, false
	}
	return t.challenge, true
}

var _ rpc.TA = (*TA)(nil)
var _ taproc.Endpointer = (*TA)(nil)

// String describes the TA without secrets.
func (t *TA) String() string {
	return fmt.Sprintf("fingerprint.TA(%s, auth-token key: %v)", t.self, t.HasAuthTokenKey())
}
