package gatekeeper

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("gatekeeper: bad configuration")

// ErrNoAuthTokenKey is the reason VERIFY is refused before Keymaster's
// auth-token key has arrived: AOSP GateKeeper::MintAuthToken would fill the
// hmac with zeros, fpemu refuses to mint such a token.
var ErrNoAuthTokenKey = errors.New("gatekeeper: auth-token key not received from keymaster")

// Config holds the explicit dependencies of the Gatekeeper TA.
type Config struct {
	// Self is this TA's UUID (tee.UUIDGatekeeper on an fpemu device).
	Self tee.UUID
	// StorageKey is the TA storage key (≥ 16 bytes) provisioned at boot. It
	// keys the password signatures (DerivePasswordKey) and, when DBPath is
	// used, the sealed store.
	StorageKey []byte

	// Exactly one of Store and DBPath. With Store the caller owns the store
	// (opened with Schema()) and Close leaves it open; with DBPath NewTA
	// opens it with StoreOptions and Close closes it.
	Store        *store.Store
	DBPath       string
	StoreOptions []store.Option

	// Exactly one of Keys and Opener. With Keys (the TA's pairwise envelope
	// keys) NewTA builds the envelope.Opener with a replay guard persisted
	// in the store (NewMarkStore), scoped to BootID. With Opener the caller
	// chose the replay guard.
	Keys   envelope.Keyring
	Opener *envelope.Opener
	// BootID identifies the current device boot (1..64 bytes); required
	// with Keys. Replay marks of another boot are ignored.
	BootID []byte

	// MACAlgorithm of the auth tokens (tokens.HMACSHA256, AOSP's, unless the
	// device is configured for GM/T).
	MACAlgorithm tokens.MACAlgorithm

	// Clock is the device boot clock (HAT timestamps, throttling).
	Clock tee.Clock
	// Logger gets the TA's log lines; it should come from
	// tee.NewLogger("gatekeeper", ...), which adds the component field. The
	// TA logs uids, statuses and retry timeouts, never passwords, handles,
	// SIDs or keys. nil discards logs.
	Logger *zap.Logger
}

// TA is the Gatekeeper trusted application. Its methods are safe for
// concurrent use: every state change is one store transaction, and the
// store serialises them.
type TA struct {
	self      tee.UUID
	st        *store.Store
	ownsStore bool
	opener    *envelope.Opener
	clock     tee.Clock
	log       *zap.Logger
	pwKey     []byte
	macAlg    tokens.MACAlgorithm

	mu  sync.RWMutex
	mac *tokens.MAC // nil until SET_AUTH_TOKEN_KEY
}

// NewTA validates cfg, opens the store if needed and returns the TA. It
// holds no auth-token key yet: VERIFY fails with ErrNoAuthTokenKey until
// SET_AUTH_TOKEN_KEY has delivered Keymaster's envelope.
func NewTA(cfg Config) (*TA, error) {
	if _, ok := tee.RoleOf(cfg.Self); !ok {
		return nil, fmt.Errorf("%w: self %s is not a TA of the manifest", ErrConfig, cfg.Self)
	}
	if cfg.Clock == nil {
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
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
	pwKey, err := DerivePasswordKey(cfg.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t := &TA{self: cfg.Self, opener: cfg.Opener, clock: cfg.Clock, log: log, pwKey: pwKey, macAlg: cfg.MACAlgorithm}

	t.st = cfg.Store
	if t.st == nil {
		opts := append([]store.Option{store.WithLogger(log)}, cfg.StoreOptions...)
		if t.st, err = store.Open(cfg.DBPath, cfg.StorageKey, Schema(), opts...); err != nil {
			return nil, fmt.Errorf("gatekeeper: open store: %w", err)
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

// Close releases the store if NewTA opened it. It is idempotent.
func (t *TA) Close() error {
	t.mu.Lock()
	t.mac = nil
	t.mu.Unlock()
	return t.closeStore()
}

func (t *TA) closeStore() error {
	if t.ownsStore {
		return t.st.Close()
	}
	return nil
}

// HasAuthTokenKey reports whether Keymaster's auth-token key has arrived.
func (t *TA) HasAuthTokenKey() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.mac != nil
}

// SetAuthTokenKey opens env, an envelope Keymaster sealed for this TA in
// answer to GET_AUTH_TOKEN_KEY, and installs the key it carries. Only an
// authentic, fresh envelope of type envelope.MsgAuthTokenKey from Keymaster
// with a KeySize payload is accepted (errors wrap the envelope sentinels,
// ErrWrongSender or ErrKeyPayload); a later envelope replaces the key.
func (t *TA) SetAuthTokenKey(env []byte) error {
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
	return nil
}

// Errors of SetAuthTokenKey beyond the envelope package's.
var (
	// ErrWrongSender: the envelope did not come from Keymaster.
	ErrWrongSender = errors.New("gatekeeper: auth-token key envelope not from keymaster")
	// ErrKeyPayload: the envelope is not an auth-token key of KeySize bytes.
	ErrKeyPayload = errors.New("gatekeeper: envelope is not an auth-token key")
)

// errNoWrite rolls back a transaction that decided nothing must change.
var errNoWrite = errors.New("gatekeeper: no state change")

// tx runs fn in one write transaction; fn returning errNoWrite rolls back
// and counts as success.
func (t *TA) tx(ctx context.Context, fn func(tx *store.Tx) error) error {
	err := t.st.Tx(ctx, fn)
	if errors.Is(err, errNoWrite) {
		return nil
	}
	return err
}

// EnrollResponse is the answer to ENROLL (AIDL GatekeeperEnrollResponse).
type EnrollResponse struct {
	Status         Status
	RetryTimeoutMs uint32 // with ERROR_RETRY_TIMEOUT
	SecureUserID   uint64 // with STATUS_OK
	Handle         []byte // with STATUS_OK: the new HandleSize-byte password handle
}

// VerifyResponse is the answer to VERIFY (AIDL GatekeeperVerifyResponse
// plus libgatekeeper's request_reenroll).
type VerifyResponse struct {
	Status          Status
	RetryTimeoutMs  uint32 // with ERROR_RETRY_TIMEOUT
	RequestReenroll bool   // with a success: the handle should be re-enrolled
	Token           tokens.Token
}

// attempt is what the throttled part of ENROLL and VERIFY decided.
type attempt struct {
	handle  PasswordHandle
	ok      bool   // handle is uid's enrolled handle
	retryMs uint32 // rejected by ThrottleRequest with this wait, if > 0
	timeout uint32 // ComputeRetryTimeout after the increment
}

// throttledAttempt checks that handle is uid's enrolled handle and, if so,
// runs GetFailureRecord, ThrottleRequest and IncrementFailureRecord in one
// transaction, so the attempt is counted and persisted before the password
// is checked (gatekeeper.cpp Verify/Enroll order).
func (t *TA) throttledAttempt(ctx context.Context, uid uint32, handle []byte, now uint64) (attempt, error) {
	var a attempt
	err := t.tx(ctx, func(tx *store.Tx) error {
		a = attempt{}
		h, ok, err := isEnrolled(tx, uid, handle)
		if err != nil || !ok {
			if err == nil {
				err = errNoWrite
			}
			return err
		}
		a.handle, a.ok = h, true
		rec, err := loadRecord(tx, h.UserID)
		if err != nil {
			return err
		}
		th := ThrottleRequest(rec, now)
		if th.Rejected {
			a.retryMs = th.RetryMs
			if th.Persist {
				return putRecord(tx, th.Record)
			}
			return errNoWrite
		}
		rec = th.Record.Increment(h.UserID, now)
		a.timeout = ComputeRetryTimeout(rec.FailureCounter)
		return putRecord(tx, rec)
	})
	return a, err
}

// failed is the answer to a wrong password: ERROR_RETRY_TIMEOUT with the
// new timeout if there is one, else ERROR_GENERAL_FAILURE (gatekeeper.cpp).
func failed(timeout uint32) (Status, uint32) {
	if timeout > 0 {
		return ErrorRetryTimeout, timeout
	}
	return ErrorGeneralFailure, 0
}

// Enroll is GateKeeper::Enroll for Android user uid. Without a current
// handle it is an untrusted enroll under a new random SID; with one, the
// handle must be uid's enrolled handle and the current password must verify
// (throttled and counted like Verify), and the new handle keeps the SID
// (trusted re-enroll). The returned error is for internal failures only;
// every Gatekeeper-level outcome is a Status.
func (t *TA) Enroll(ctx context.Context, uid uint32, p EnrollPayload) (EnrollResponse, error) {
	if len(p.DesiredPassword) == 0 || len(p.DesiredPassword) > MaxPasswordSize || len(p.CurrentPassword) > MaxPasswordSize {
		t.log.Info("enroll rejected", zap.Uint32("uid", uid), zap.String("reason", "password size"))
		return EnrollResponse{Status: ErrorGeneralFailure}, nil
	}
	now := t.clock.NowMs()
	var sid uint64
	trusted := len(p.CurrentHandle) > 0
	if !trusted {
		var err error
		if sid, err = randomNonZero(); err != nil {
			return EnrollResponse{}, err
		}
	} else {
		if _, err := ParseHandle(p.CurrentHandle); err != nil {
			t.log.Info("enroll rejected", zap.Uint32("uid", uid), zap.String("reason", "malformed current handle"))
			return EnrollResponse{Status: ErrorGeneralFailure}, nil
		}
		a, err := t.throttledAttempt(ctx, uid, p.CurrentHandle, now)
		switch {
		case err != nil:
			return EnrollResponse{}, err
		case !a.ok:
			t.log.Info("enroll rejected", zap.Uint32("uid", uid), zap.String("reason", "current handle is not the enrolled one"))
			return EnrollResponse{Status: ErrorGeneralFailure}, nil
		case a.retryMs > 0:
			t.log.Info("enroll throttled", zap.Uint32("uid", uid), zap.Uint32("retry_ms", a.retryMs))
			return EnrollResponse{Status: ErrorRetryTimeout, RetryTimeoutMs: a.retryMs}, nil
		case !CheckPassword(t.pwKey, &a.handle, p.CurrentPassword):
			st, retry := failed(a.timeout)
			t.log.Info("enroll: wrong current password", zap.Uint32("uid", uid), zap.Uint32("retry_ms", retry))
			return EnrollResponse{Status: st, RetryTimeoutMs: retry}, nil
		}
		sid = a.handle.UserID
	}

	salt, err := randomUint64()
	if err != nil {
		return EnrollResponse{}, err
	}
	h := PasswordHandle{
		Version:        HandleVersion,
		UserID:         sid,
		Flags:          HandleFlagThrottleSecure, // failure records are persisted
		Salt:           salt,
		HardwareBacked: true,
	}
	h.Signature = ComputePasswordSignature(t.pwKey, &h, p.DesiredPassword)
	err = t.tx(ctx, func(tx *store.Tx) error {
		old, _, ok, err := loadUser(tx, uid)
		if err != nil {
			return err
		}
		if ok && old.UserID != sid {
			if err := clearRecord(tx, old.UserID); err != nil {
				return err
			}
		}
		if err := clearRecord(tx, sid); err != nil {
			return err
		}
		return putUser(tx, uid, &h)
	})
	if err != nil {
		return EnrollResponse{}, err
	}
	t.log.Info("enrolled", zap.Uint32("uid", uid), zap.Bool("trusted", trusted))
	return EnrollResponse{Status: StatusOK, SecureUserID: sid, Handle: h.Marshal()}, nil
}

// Verify is GateKeeper::Verify for Android user uid: the handle must be
// uid's enrolled handle, the attempt is throttled and counted before the
// password is checked, and a match mints a PASSWORD auth token {version 0,
// challenge, user_id = SID, authenticator_id 0, timestamp = boot-clock ms}
// MACed with Keymaster's auth-token key and clears the failure record.
// Without that key Verify fails with ErrNoAuthTokenKey before anything is
// counted.
func (t *TA) Verify(ctx context.Context, uid uint32, challenge uint64, p VerifyPayload) (VerifyResponse, error) {
	t.mu.RLock()
	mac := t.mac
	t.mu.RUnlock()
	if mac == nil {
		return VerifyResponse{}, ErrNoAuthTokenKey
	}
	if len(p.Handle) == 0 || len(p.Password) == 0 || len(p.Password) > MaxPasswordSize {
		t.log.Info("verify rejected", zap.Uint32("uid", uid), zap.String("reason", "missing handle or password size"))
		return VerifyResponse{Status: ErrorGeneralFailure}, nil
	}
	if _, err := ParseHandle(p.Handle); err != nil {
		t.log.Info("verify rejected", zap.Uint32("uid", uid), zap.String("reason", "malformed handle"))
		return VerifyResponse{Status: ErrorGeneralFailure}, nil
	}
	now := t.clock.NowMs()
	a, err := t.throttledAttempt(ctx, uid, p.Handle, now)
	switch {
	case err != nil:
		return VerifyResponse{}, err
	case !a.ok:
		t.log.Info("verify rejected", zap.Uint32("uid", uid), zap.String("reason", "handle is not the enrolled one"))
		return VerifyResponse{Status: ErrorGeneralFailure}, nil
	case a.retryMs > 0:
		t.log.Info("verify throttled", zap.Uint32("uid", uid), zap.Uint32("retry_ms", a.retryMs))
		return VerifyResponse{Status: ErrorRetryTimeout, RetryTimeoutMs: a.retryMs}, nil
	case !CheckPassword(t.pwKey, &a.handle, p.Password):
		st, retry := failed(a.timeout)
		t.log.Info("verify: wrong password", zap.Uint32("uid", uid), zap.Uint32("retry_ms", retry))
		return VerifyResponse{Status: st, RetryTimeoutMs: retry}, nil
	}
	// GateKeeper::MintAuthToken.
	tok := tokens.Token{
		Version:           tokens.Version,
		Challenge:         challenge,
		UserID:            a.handle.UserID,
		AuthenticatorID:   0,
		AuthenticatorType: tokens.AuthPassword,
		Timestamp:         now,
	}
	mac.Sign(&tok)
	if err := t.tx(ctx, func(tx *store.Tx) error { return clearRecord(tx, a.handle.UserID) }); err != nil {
		// The password was right and the token is minted; a record that
		// failed to clear only throttles the next attempt early.
		t.log.Error("verify: failure record not cleared", zap.Uint32("uid", uid), zap.Error(err))
	}
	t.log.Info("verified", zap.Uint32("uid", uid))
	return VerifyResponse{Status: StatusOK, Token: tok}, nil
}

// DeleteUser is IGatekeeper.deleteUser: it forgets uid's handle (which then
// no longer verifies) and its failure record. An unknown uid is
// ERROR_GENERAL_FAILURE (VTS DeleteInvalidUserTest).
func (t *TA) DeleteUser(ctx context.Context, uid uint32) (Status, error) {
	var existed bool
	err := t.tx(ctx, func(tx *store.Tx) error {
		var err error
		existed, err = deleteUser(tx, uid)
		if err == nil && !existed {
			err = errNoWrite
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if !existed {
		t.log.Info("delete user: not enrolled", zap.Uint32("uid", uid))
		return ErrorGeneralFailure, nil
	}
	t.log.Info("user deleted", zap.Uint32("uid", uid))
	return StatusOK, nil
}

// DeleteAllUsers is IGatekeeper.deleteAllUsers.
func (t *TA) DeleteAllUsers(ctx context.Context) (Status, error) {
	if err := t.tx(ctx, deleteAllUsers); err != nil {
		return 0, err
	}
	t.log.Info("all users deleted")
	return StatusOK, nil
}

func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("gatekeeper: random: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// randomNonZero returns a random secure user ID; 0 means "no SID" to
// Keymaster and VTS (EnrollSuccess: secureUserId != 0), so it is redrawn.
func randomNonZero() (uint64, error) {
	for {
		v, err := randomUint64()
		if err != nil || v != 0 {
			return v, err
		}
	}
}
