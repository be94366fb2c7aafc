package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tee/taproc"
)

// ErrConfig reports an unusable Config (tacore.ErrConfig is wrapped too).
var ErrConfig = errors.New("fingerprint: bad configuration")

// DefaultSensorVersion identifies fpemu's virtual sensor and reference
// matcher in bio auth results (bio.Match.SensorVersion): 1.0.
const DefaultSensorVersion uint32 = 0x00010000

// Outbox is the part of the bio hook FETCH_OUTBOX drains (*bio.Sender).
type Outbox interface {
	Drain(maxBytes int) [][]byte
	Pending() int
	PendingSize() int
}

// Config holds the explicit dependencies of the fingerprint TA: the base
// every TA shares (tacore.Config; BootID is required, it scopes the timed
// lockout's deadlines) and the fingerprint TA's own. A caller that opens the
// store itself (Store) opens it with Schema(). The TA logs groups, finger
// ids, events and reasons, never HATs, SIDs, templates or keys.
type Config struct {
	tacore.Config

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

// spec is what tacore needs to know about the fingerprint TA.
var spec = tacore.Spec{
	Name: "fingerprint", Schema: Schema(), Marks: replayMarks,
	RequireBootID: true, ErrConfig: ErrConfig,
}

// TA is the fingerprint trusted application. Its state is shared by every
// session (it serves one REE client, the HAL); its methods are safe for
// concurrent use. HasAuthTokenKey and the store, clock and log are the
// shared core's (tacore).
type TA struct {
	*tacore.Core
	tacore.Commands[session, fpproto.Command] // OpenSession, CommandName

	sensor    *sensor.Sensor
	matcher   matcher.Matcher
	hook      bio.Hook
	outbox    Outbox
	sensorVer uint32
	templates templateCache
	authCache authStateCache

	enrollSamples int
	challengeTTL  uint64 // ms
	hatMaxAge     time.Duration
	lockoutMs     uint64 // timed lockout

	mu           sync.Mutex
	challenge    uint64 // 0: none outstanding
	challengeExp uint64 // boot-clock ms
	activeGID    uint32
	activeSet    bool
	started      bool // finger lists pushed to the hook
	op           *operation
	events       []fpproto.Event
	dropped      uint64
	evChanged    chan struct{}
	closed       bool
}

// NewTA validates cfg, opens the store if needed and returns the TA. It
// holds no auth-token key yet.
func NewTA(cfg Config) (*TA, error) {
	switch {
	case cfg.LockoutTimed < 0:
		return nil, fmt.Errorf("%w: negative timed lockout", ErrConfig)
	case cfg.EnrollSamples < 0 || cfg.EnrollSamples > matcher.MaxTemplateWindows:
		return nil, fmt.Errorf("%w: %d enroll samples", ErrConfig, cfg.EnrollSamples)
	}
	t := new(TA)
	cmds, err := tacore.NewCommands("fingerprint", commands, func(context.Context) session { return session{t} })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	core, err := tacore.New(cfg.Config, spec)
	if err != nil {
		return nil, err
	}
	*t = TA{
		Core:          core,
		Commands:      cmds,
		sensor:        cfg.Sensor,
		matcher:       cfg.Matcher,
		hook:          cfg.Hook,
		sensorVer:     cfg.SensorVersion,
		enrollSamples: cmp0(cfg.EnrollSamples, fpproto.DefaultEnrollSamples),
		challengeTTL:  uint64(cmp0(cfg.ChallengeTimeout, fpproto.DefaultChallengeTimeout) / time.Millisecond),
		hatMaxAge:     cmp0(cfg.HATMaxAge, fpproto.DefaultHATMaxAge),
		lockoutMs:     uint64(cmp0(cfg.LockoutTimed, fpproto.LockoutTimedDuration) / time.Millisecond),
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
	op := t.op
	t.mu.Unlock()
	if op != nil {
		op.cancel()
		<-op.done
	}
	return t.Core.Close()
}

// Sensor returns the TA's virtual sensor.
func (t *TA) Sensor() *sensor.Sensor { return t.sensor }

// Endpoints implements taproc.Endpointer: the sensor-control endpoint is
// served on its own socket beside the TA's.
func (t *TA) Endpoints() []taproc.Endpoint {
	return []taproc.Endpoint{{Name: sensorproto.SocketName, UUID: sensorproto.UUID, TA: sensor.NewControlTA(t.sensor)}}
}

// SetAuthTokenKey installs Keymaster's auth-token key from env, the
// envelope Keymaster sealed for this TA in answer to GET_AUTH_TOKEN_KEY
// (tacore.Core.SetAuthTokenKey: errors wrap the envelope sentinels,
// tacore.ErrWrongSender or tacore.ErrKeyPayload). A later envelope
// replaces the key. The first key starts the TA for the payment hook
// (finger lists).
func (t *TA) SetAuthTokenKey(ctx context.Context, env []byte) error {
	if err := t.Core.SetAuthTokenKey(env); err != nil {
		return err
	}
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
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		var err error
		groups, err = listGroups(tx)
		return err
	})
	if err != nil {
		t.Log.Error("start: list groups", zap.Error(err))
		return
	}
	if activeSet && !slices.Contains(groups, active) {
		groups = append(groups, active)
	}
	for _, gid := range groups {
		t.pushFingerList(ctx, gid)
	}
	t.Log.Info("started", zap.Int("groups", len(groups)))
}

// pushFingerList reports gid's current finger list to the hook.
func (t *TA) pushFingerList(ctx context.Context, gid uint32) {
	var fids []uint32
	var id uint64
	err := t.Store.View(ctx, func(tx *store.Tx) error {
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
		t.Log.Error("finger list not reported", zap.Uint32("gid", gid), zap.Error(err))
	}
}

// PreEnroll is pre_enroll: a fresh random non-zero challenge, replacing any
// earlier one, valid for ChallengeTimeout on the boot clock.
func (t *TA) PreEnroll() (uint64, error) {
	c, err := t.RandomNonZero()
	if err != nil {
		return 0, err
	}
	now := t.Clock.NowMs()
	t.mu.Lock()
	t.challenge, t.challengeExp = c, now+t.challengeTTL
	t.mu.Unlock()
	t.Log.Info("pre_enroll: challenge issued")
	return c, nil
}

// PostEnroll is post_enroll: the challenge is invalidated.
func (t *TA) PostEnroll() {
	t.mu.Lock()
	t.challenge, t.challengeExp = 0, 0
	t.mu.Unlock()
	t.Log.Info("post_enroll: challenge invalidated")
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
	return fmt.Sprintf("fingerprint.TA(%s, auth-token key: %v)", t.Self, t.HasAuthTokenKey())
}
