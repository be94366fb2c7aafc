package hal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/tee"
)

// Defaults for Config.
const (
	// DefaultEventWait is the HAL's NEXT_EVENT long-poll wait. Short, because
	// a TA asked to stop (SIGTERM) lets a command in flight finish: a poll
	// still waiting when the device shuts down delays the fingerprint TA's
	// exit by up to this much. Five idle polls a second cost nothing.
	DefaultEventWait      = 200 * time.Millisecond
	DefaultCallTimeout    = 10 * time.Second
	DefaultPreemptTimeout = 2 * time.Second
	DefaultRelayTimeout   = time.Second
)

// PathMax is PATH_MAX: setActiveGroup refuses a store path of this length
// or longer, as the default 2.1 wrapper does.
const PathMax = 4096

// ErrNoPaymentTA is what Config.Payment returns when no payment TA runs;
// the bio envelopes then stay in the fingerprint TA's outbox.
var ErrNoPaymentTA = errors.New("hal: no payment TA running")

// BioRelay delivers sealed bio envelopes (docs/protocol.md §8) to the
// payment TA.
type BioRelay interface {
	// Deliver hands one envelope to the payment TA. An error matching
	// tee.ErrTargetDead means it was not delivered and may be retried;
	// any other error means the payment TA refused it (the HAL drops it).
	Deliver(ctx context.Context, envelope []byte) error
	Close() error
}

// Config configures a HAL.
type Config struct {
	// ConnectTA opens a connection to the fingerprint TA (DialTA).
	// Required.
	ConnectTA func(ctx context.Context) (TA, error)
	// AuthTokenKey returns Keymaster's auth-token key sealed to the
	// fingerprint TA: GET_AUTH_TOKEN_KEY(UUIDFingerprint). The HAL never
	// opens it. Required.
	AuthTokenKey func(ctx context.Context) ([]byte, error)
	// Payment opens a relay to the payment TA, or returns ErrNoPaymentTA.
	// Nil means no payment TA is ever relayed to. The HAL keeps the relay
	// it opened for the next relays and opens another (at most once per
	// relay) only when the kept one fails; a BioRelay with a
	// PeerClosed() bool method is checked before each relay.
	Payment func(ctx context.Context) (BioRelay, error)
	// Log receives the HAL's log lines. Default: tee.NewLogger("hal", info).
	Log *zap.Logger
	// EventWait is the wait of each NEXT_EVENT. Default DefaultEventWait.
	EventWait time.Duration
	// CallTimeout bounds every TA call. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// PreemptTimeout bounds how long a new operation waits for the one it
	// cancels to end. Default DefaultPreemptTimeout.
	PreemptTimeout time.Duration
	// RelayTimeout bounds one relay of the bio outbox to the payment TA
	// (FETCH_OUTBOX and every DELIVER). A relay runs before
	// onAuthenticated (and the last onEnrollResult / onRemoved), so it is
	// also the most a payment TA that does not answer can delay that
	// callback; what it did not deliver is kept for the next relay.
	// Default DefaultRelayTimeout.
	RelayTimeout time.Duration
	// DeviceID is what setNotify returns. 0: a random non-zero value.
	DeviceID uint64
}

// HAL is the IBiometricsFingerprint@2.1 implementation over the
// fingerprint TA (see the package doc). Its methods are safe for
// concurrent use; they run one at a time, as the legacy HAL's do.
type HAL struct {
	cfg      Config
	log      *zap.Logger
	deviceID uint64

	callMu sync.Mutex // one HIDL method at a time

	mu       sync.Mutex
	sink     *Sink
	conn     *conn
	busy     bool          // an operation may be running (started, end not seen)
	canceled uint64        // ERROR_CANCELED callbacks delivered
	changed  chan struct{} // closed and replaced after every callback
	pending  [][]byte      // bio envelopes fetched, not yet delivered (oldest first)
	removing chan struct{} // closed when the REMOVE command in flight returns; nil if none
	closed   bool

	relayWanted atomic.Bool // a method queued bio reports outside an operation

	// relayMu makes relays of the bio outbox run one at a time and guards
	// relay: the one session on the payment TA the HAL keeps open between
	// relays (instead of a connection and session per relay), nil until
	// the first relay and after a failure; closed by Close. One connection
	// and one session of the payment TA's, whatever the HAL does.
	relayMu sync.Mutex
	relay   BioRelay

	pumps sync.WaitGroup
}

// conn is one connection to the TA and its event pump.
type conn struct {
	ta     TA
	ctx    context.Context // canceled when the connection is dropped
	cancel context.CancelFunc
}

// Open connects to the fingerprint TA, relays Keymaster's auth-token key to
// it, starts the event pump and relays any bio envelope already queued. It
// fails if the TA or Keymaster cannot be reached.
func Open(ctx context.Context, cfg Config) (*HAL, error) {
	if cfg.ConnectTA == nil || cfg.AuthTokenKey == nil {
		return nil, errors.New("hal: Config.ConnectTA and Config.AuthTokenKey are required")
	}
	if cfg.Log == nil {
		cfg.Log = tee.NewLogger("hal", zap.InfoLevel)
	}
	if cfg.EventWait <= 0 {
		cfg.EventWait = DefaultEventWait
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.PreemptTimeout <= 0 {
		cfg.PreemptTimeout = DefaultPreemptTimeout
	}
	if cfg.RelayTimeout <= 0 {
		cfg.RelayTimeout = DefaultRelayTimeout
	}
	h := &HAL{cfg: cfg, log: cfg.Log, deviceID: cfg.DeviceID, changed: make(chan struct{})}
	if h.deviceID == 0 {
		h.deviceID = randomDeviceID()
	}
	if _, err := h.connect(ctx); err != nil {
		return nil, err
	}
	h.log.Info("HAL open", zap.Uint64("device_id", h.deviceID))
	return h, nil
}

func randomDeviceID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// DeviceID returns the value setNotify returns.
func (h *HAL) DeviceID() uint64 { return h.deviceID }

// connect opens the TA, relays the auth-token key and starts the pump.
func (h *HAL) connect(ctx context.Context) (*conn, error) {
	ta, err := h.cfg.ConnectTA(ctx)
	if err != nil {
		return nil, errTA("connect to fingerprint TA", err)
	}
	env, err := h.cfg.AuthTokenKey(ctx)
	if err != nil {
		ta.Close()
		return nil, errTA("GET_AUTH_TOKEN_KEY from Keymaster", err)
	}
	if err := ta.SetAuthTokenKey(ctx, env); err != nil {
		ta.Close()
		return nil, errTA("SET_AUTH_TOKEN_KEY on the fingerprint TA", err)
	}
	h.log.Info("auth-token key relayed to the fingerprint TA", zap.Int("envelope_bytes", len(env)))
	cctx, cancel := context.WithCancel(context.Background())
	c := &conn{ta: ta, ctx: cctx, cancel: cancel}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		ta.Close()
		return nil, ErrClosed
	}
	h.conn = c
	h.pumps.Add(1)
	h.mu.Unlock()
	go h.pump(c)
	return c, nil
}

// current returns the TA connection, reconnecting (and relaying the key
// again) if the TA was lost.
func (h *HAL) current(ctx context.Context) (*conn, error) {
	h.mu.Lock()
	c, closed := h.conn, h.closed
	h.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case c != nil:
		return c, nil
	}
	c, err := h.connect(ctx)
	if err != nil {
		return nil, err
	}
	h.log.Info("reconnected to the fingerprint TA")
	return c, nil
}

// drop forgets a connection whose TA is gone. If an operation may have
// been running, the client gets onError(ERROR_HW_UNAVAILABLE): the
// operation can never finish.
func (h *HAL) drop(c *conn, cause error) {
	h.mu.Lock()
	if h.conn != c {
		h.mu.Unlock()
		return
	}
	h.conn = nil
	busy := h.busy && !h.closed
	h.mu.Unlock()
	c.cancel()
	_ = c.ta.Close()
	h.log.Error("fingerprint TA lost", zap.Error(cause), zap.Bool("operation_running", busy))
	if busy {
		h.deliver(hidl.OnError{DeviceID: h.deviceID, Error: hidl.ErrorHWUnavailable})
	}
}

// call runs one TA command for a HIDL method under CallTimeout. A call that
// does not complete is logged and becomes the matching RequestStatus; a
// dead TA is dropped.
func (h *HAL) call(ctx context.Context, method string, f func(TA, context.Context) (hidl.RequestStatus, error)) hidl.RequestStatus {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	c, err := h.current(ctx)
	if err != nil {
		h.log.Warn("method failed: fingerprint TA unavailable", zap.String("method", method), zap.Error(err))
		if errors.Is(err, ErrClosed) {
			return hidl.SysEIO
		}
		return statusOf(err)
	}
	st, err := f(c.ta, ctx)
	if err != nil {
		if taDead(err) {
			h.drop(c, err)
		}
		st = statusOf(err)
		h.log.Warn("method failed", zap.String("method", method), zap.Stringer("status", st), zap.Error(err))
		return st
	}
	h.log.Debug("method", zap.String("method", method), zap.Stringer("status", st))
	return st
}

// callUint64 is call for the methods that answer a number rather than a
// RequestStatus (preEnroll, getAuthenticatorId): it holds callMu, and the
// answer is 0 when the call fails.
func (h *HAL) callUint64(ctx context.Context, method string, f func(TA, context.Context) (uint64, error)) uint64 {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	var v uint64
	h.call(ctx, method, func(ta TA, ctx context.Context) (hidl.RequestStatus, error) {
		var err error
		v, err = f(ta, ctx)
		return hidl.SysOK, err
	})
	return v
}

// startOp starts an operation (enroll, authenticate, enumerate, remove).
// If the TA is busy with another one, that one is cancelled first — the
// client gets its onError(ERROR_CANCELED) — and the start retried once.
func (h *HAL) startOp(ctx context.Context, method string, f func(TA, context.Context) (hidl.RequestStatus, error)) hidl.RequestStatus {
	st := h.call(ctx, method, f)
	if st == hidl.SysEBUSY && h.preempt(ctx) {
		st = h.call(ctx, method, f)
	}
	if st == hidl.SysOK {
		h.mu.Lock()
		h.busy = true
		h.mu.Unlock()
	}
	return st
}

// preempt cancels the running operation and waits until its
// ERROR_CANCELED has been delivered (the TA queues exactly one per
// CANCEL), at most PreemptTimeout.
func (h *HAL) preempt(ctx context.Context) bool {
	h.mu.Lock()
	seen := h.canceled
	h.mu.Unlock()
	if st := h.call(ctx, "cancel (preempt)", TA.Cancel); st != hidl.SysOK {
		return false
	}
	t := time.NewTimer(h.cfg.PreemptTimeout)
	defer t.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.canceled <= seen {
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			h.mu.Lock()
			return false
		case <-ctx.Done():
			h.mu.Lock()
			return false
		}
		h.mu.Lock()
	}
	h.log.Info("running operation cancelled for a new one")
	return true
}

// deliver passes one callback to the registered client (if any) and
// updates the operation state.
func (h *HAL) deliver(cb hidl.Callback) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hidl.Ends(cb) {
		h.busy = false
	}
	if e, ok := cb.(hidl.OnError); ok && e.Error == hidl.ErrorCanceled {
		h.canceled++
	}
	close(h.changed)
	h.changed = make(chan struct{})
	if h.sink == nil {
		h.log.Debug("callback dropped: no client callback registered", zap.Stringer("callback", cb))
		return
	}
	h.log.Debug("callback", zap.Stringer("callback", cb))
	h.sink.send(cb)
}

// SetNotify is setNotify(clientCallback): s receives every later callback
// and replaces the previous callback, which ends with ErrReplaced. A nil s
// is setNotify(null): callbacks are dropped. It returns the deviceId.
func (h *HAL) SetNotify(s *Sink) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		if s != nil {
			s.end(ErrClosed)
		}
		return h.deviceID
	}
	if old := h.sink; old != nil && old != s {
		old.end(ErrReplaced)
	}
	h.sink = s
	return h.deviceID
}

// Unregister drops s if it is the registered callback (the client went
// away): setNotify(null).
func (h *HAL) Unregister(s *Sink) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink == s {
		h.sink = nil
	}
}

// PreEnroll is preEnroll(): the TA's challenge, 0 on failure.
func (h *HAL) PreEnroll(ctx context.Context) uint64 {
	return h.callUint64(ctx, "preEnroll", TA.PreEnroll)
}

// Enroll is enroll(hat, gid, timeoutSec). hat must be hidl.HATSize bytes
// (HIDL's uint8_t[69]); any other length is SYS_EINVAL.
func (h *HAL) Enroll(ctx context.Context, hat []byte, gid, timeoutSec uint32) hidl.RequestStatus {
	if len(hat) != hidl.HATSize {
		return hidl.SysEINVAL
	}
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.startOp(ctx, "enroll", func(ta TA, ctx context.Context) (hidl.RequestStatus, error) {
		return ta.Enroll(ctx, hat, gid, timeoutSec)
	})
}

// PostEnroll is postEnroll().
func (h *HAL) PostEnroll(ctx context.Context) hidl.RequestStatus {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.call(ctx, "postEnroll", TA.PostEnroll)
}

// GetAuthenticatorID is getAuthenticatorId(); 0 on failure.
func (h *HAL) GetAuthenticatorID(ctx context.Context) uint64 {
	return h.callUint64(ctx, "getAuthenticatorId", TA.GetAuthenticatorID)
}

// Cancel is cancel(): the running operation, or none, ends with exactly
// one onError(ERROR_CANCELED). The enroll challenge stays valid.
func (h *HAL) Cancel(ctx context.Context) hidl.RequestStatus {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.call(ctx, "cancel", TA.Cancel)
}

// Enumerate is enumerate().
func (h *HAL) Enumerate(ctx context.Context) hidl.RequestStatus {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.startOp(ctx, "enumerate", TA.Enumerate)
}

// Remove is remove(gid, fid); fid 0 removes every template of gid. While
// the TA's REMOVE runs, the pump holds back the last onRemoved until the
// command has returned (and with it queued the new finger list), so that
// the list reaches the payment TA first (awaitRemove).
func (h *HAL) Remove(ctx context.Context, gid, fid uint32) hidl.RequestStatus {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.startOp(ctx, "remove", func(ta TA, ctx context.Context) (hidl.RequestStatus, error) {
		done := make(chan struct{})
		h.mu.Lock()
		h.removing = done
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.removing = nil
			h.mu.Unlock()
			close(done)
		}()
		return ta.Remove(ctx, gid, fid)
	})
}

// SetActiveGroup is setActiveGroup(gid, storePath). As the default 2.1
// wrapper, the HAL itself refuses with SYS_EINVAL a path that is empty
// (HIDL's null string), PathMax bytes or longer, or not writable
// (access(W_OK)); the TA then checks it again.
func (h *HAL) SetActiveGroup(ctx context.Context, gid uint32, storePath string) hidl.RequestStatus {
	if len(storePath) == 0 || len(storePath) >= PathMax {
		return hidl.SysEINVAL
	}
	if err := unix.Access(storePath, unix.W_OK); err != nil {
		return hidl.SysEINVAL
	}
	h.callMu.Lock()
	defer h.callMu.Unlock()
	st := h.call(ctx, "setActiveGroup", func(ta TA, ctx context.Context) (hidl.RequestStatus, error) {
		return ta.SetActiveGroup(ctx, gid, storePath)
	})
	if st == hidl.SysOK {
		// The first active group queues its finger list for the payment
		// TA (docs/protocol.md §9.3): relay it without waiting for an
		// operation to end.
		h.relayWanted.Store(true)
	}
	return st
}

// Authenticate is authenticate(operationId, gid).
func (h *HAL) Authenticate(ctx context.Context, operationID uint64, gid uint32) hidl.RequestStatus {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.startOp(ctx, "authenticate", func(ta TA, ctx context.Context) (hidl.RequestStatus, error) {
		return ta.Authenticate(ctx, operationID, gid)
	})
}

// Close stops the HAL: the registered callback ends with ErrClosed, the TA
// connection is closed and the pump stopped. Close is idempotent.
func (h *HAL) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	c := h.conn
	h.conn = nil
	if h.sink != nil {
		h.sink.end(ErrClosed)
		h.sink = nil
	}
	h.mu.Unlock()
	var err error
	if c != nil {
		c.cancel()
		err = c.ta.Close()
	}
	h.pumps.Wait()
	h.relayMu.Lock()
	h.closeRelay()
	h.relayMu.Unlock()
	if err != nil {
		return fmt.Errorf("hal: close TA connection: %w", err)
	}
	return nil
}
