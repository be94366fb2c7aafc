package gatekeeper

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("gatekeeper: bad configuration")

// Config holds the explicit dependencies of the Gatekeeper TA: the base
// every TA shares. StorageKey also keys the password signatures
// (DerivePasswordKey). A caller that opens the store itself (Store) opens
// it with Schema(). The TA logs uids, statuses and retry timeouts, never
// passwords, handles, SIDs or keys.
type Config struct {
	tacore.Config
}

// spec is what tacore needs to know about the Gatekeeper TA.
var spec = tacore.Spec{Name: "gatekeeper", Schema: Schema(), Marks: replayMarks, ErrConfig: ErrConfig}

// TA is the Gatekeeper trusted application. Its methods are safe for
// concurrent use: every state change is one store transaction, and the
// store serialises them. SetAuthTokenKey, HasAuthTokenKey and Close are
// the shared core's (tacore); OpenSession and CommandName serve the
// command table (tacore.Commands).
type TA struct {
	*tacore.Core
	tacore.Commands[session, gkproto.Command]
	pwKey []byte
}

// NewTA validates cfg, opens the store if needed and returns the TA. It
// holds no auth-token key yet: VERIFY fails with tacore.ErrNoAuthTokenKey
// until SET_AUTH_TOKEN_KEY has delivered Keymaster's envelope.
func NewTA(cfg Config) (*TA, error) {
	pwKey, err := DerivePasswordKey(cfg.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	t := &TA{pwKey: pwKey}
	if t.Commands, err = tacore.NewCommands("gatekeeper", commands, func(context.Context) session { return session{t} }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if t.Core, err = tacore.New(cfg.Config, spec); err != nil {
		return nil, err
	}
	return t, nil
}

// attempt is what the throttled part of ENROLL and VERIFY decided.
type attempt struct {
	handle  gkproto.PasswordHandle
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
	err := t.Tx(ctx, func(tx *store.Tx) error {
		a = attempt{}
		h, ok, err := isEnrolled(tx, uid, handle)
		if err != nil || !ok {
			if err == nil {
				err = tacore.ErrNoWrite
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
			return tacore.ErrNoWrite
		}
		rec = th.Record.Increment(h.UserID, now)
		a.timeout = ComputeRetryTimeout(rec.FailureCounter)
		return putRecord(tx, rec)
	})
	return a, err
}

// failed is the answer to a wrong password: ERROR_RETRY_TIMEOUT with the
// new timeout if there is one, else ERROR_GENERAL_FAILURE (gatekeeper.cpp).
func failed(timeout uint32) (gkproto.Status, uint32) {
	if timeout > 0 {
		return gkproto.ErrorRetryTimeout, timeout
	}
	return gkproto.ErrorGeneralFailure, 0
}

// checkPassword is the password check ENROLL (of the current password) and
// VERIFY share, in gatekeeper.cpp's order: handle must parse and be uid's
// enrolled handle, the attempt is throttled and counted (throttledAttempt),
// then password is checked against the handle. On a match it returns the
// enrolled handle and STATUS_OK; otherwise the status and retry timeout to
// answer, the refusal logged as op's ("enroll", "verify") with what
// naming the handle and password ("current " for ENROLL's). err is for
// internal failures only, with a zero status.
func (t *TA) checkPassword(ctx context.Context, op, what string, uid uint32, handle, password []byte, now uint64) (gkproto.PasswordHandle, gkproto.Status, uint32, error) {
	if _, err := gkproto.ParseHandle(handle); err != nil {
		t.Log.Info(op+" rejected", zap.Uint32("uid", uid), zap.String("reason", "malformed "+what+"handle"))
		return gkproto.PasswordHandle{}, gkproto.ErrorGeneralFailure, 0, nil
	}
	a, err := t.throttledAttempt(ctx, uid, handle, now)
	switch {
	case err != nil:
		return gkproto.PasswordHandle{}, 0, 0, err
	case !a.ok:
		t.Log.Info(op+" rejected", zap.Uint32("uid", uid), zap.String("reason", what+"handle is not the enrolled one"))
		return gkproto.PasswordHandle{}, gkproto.ErrorGeneralFailure, 0, nil
	case a.retryMs > 0:
		t.Log.Info(op+" throttled", zap.Uint32("uid", uid), zap.Uint32("retry_ms", a.retryMs))
		return gkproto.PasswordHandle{}, gkproto.ErrorRetryTimeout, a.retryMs, nil
	case !CheckPassword(t.pwKey, &a.handle, password):
		st, retry := failed(a.timeout)
		t.Log.Info(op+": wrong "+what+"password", zap.Uint32("uid", uid), zap.Uint32("retry_ms", retry))
		return gkproto.PasswordHandle{}, st, retry, nil
	}
	return a.handle, gkproto.StatusOK, 0, nil
}

// Enroll is GateKeeper::Enroll for Android user uid. Without a current
// handle it is an untrusted enroll under a new random SID; with one, the
// handle must be uid's enrolled handle and the current password must verify
// (throttled and counted like Verify), and the new handle keeps the SID
// (trusted re-enroll). The returned error is for internal failures only;
// every Gatekeeper-level outcome is a Status.
func (t *TA) Enroll(ctx context.Context, uid uint32, p gkproto.EnrollPayload) (gkproto.EnrollResponse, error) {
	if len(p.DesiredPassword) == 0 || len(p.DesiredPassword) > gkproto.MaxPasswordSize || len(p.CurrentPassword) > gkproto.MaxPasswordSize {
		t.Log.Info("enroll rejected", zap.Uint32("uid", uid), zap.String("reason", "password size"))
		return gkproto.EnrollResponse{Status: gkproto.ErrorGeneralFailure}, nil
	}
	now := t.Clock.NowMs()
	var sid uint64
	trusted := len(p.CurrentHandle) > 0
	if !trusted {
		var err error
		if sid, err = t.RandomNonZero(); err != nil {
			return gkproto.EnrollResponse{}, err
		}
	} else {
		cur, st, retry, err := t.checkPassword(ctx, "enroll", "current ", uid, p.CurrentHandle, p.CurrentPassword, now)
		if err != nil || st != gkproto.StatusOK {
			return gkproto.EnrollResponse{Status: st, RetryTimeoutMs: retry}, err
		}
		sid = cur.UserID
	}

	salt, err := t.RandomUint64()
	if err != nil {
		return gkproto.EnrollResponse{}, err
	}
	h := gkproto.PasswordHandle{
		Version:        gkproto.HandleVersion,
		UserID:         sid,
		Flags:          gkproto.HandleFlagThrottleSecure, // failure records are persisted
		Salt:           salt,
		HardwareBacked: true,
	}
	h.Signature = ComputePasswordSignature(t.pwKey, &h, p.DesiredPassword)
	err = t.Tx(ctx, func(tx *store.Tx) error {
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
		return gkproto.EnrollResponse{}, err
	}
	t.Log.Info("enrolled", zap.Uint32("uid", uid), zap.Bool("trusted", trusted))
	return gkproto.EnrollResponse{Status: gkproto.StatusOK, SecureUserID: sid, Handle: h.Marshal()}, nil
}

// Verify is GateKeeper::Verify for Android user uid: the handle must be
// uid's enrolled handle, the attempt is throttled and counted before the
// password is checked, and a match mints a PASSWORD auth token {version 0,
// challenge, user_id = SID, authenticator_id 0, timestamp = boot-clock ms}
// MACed with Keymaster's auth-token key and clears the failure record.
// Without that key Verify fails with tacore.ErrNoAuthTokenKey before anything is
// counted.
func (t *TA) Verify(ctx context.Context, uid uint32, challenge uint64, p gkproto.VerifyPayload) (gkproto.VerifyResponse, error) {
	mac := t.AuthTokenMAC()
	if mac == nil {
		return gkproto.VerifyResponse{}, tacore.ErrNoAuthTokenKey
	}
	if len(p.Handle) == 0 || len(p.Password) == 0 || len(p.Password) > gkproto.MaxPasswordSize {
		t.Log.Info("verify rejected", zap.Uint32("uid", uid), zap.String("reason", "missing handle or password size"))
		return gkproto.VerifyResponse{Status: gkproto.ErrorGeneralFailure}, nil
	}
	now := t.Clock.NowMs()
	h, st, retry, err := t.checkPassword(ctx, "verify", "", uid, p.Handle, p.Password, now)
	if err != nil || st != gkproto.StatusOK {
		return gkproto.VerifyResponse{Status: st, RetryTimeoutMs: retry}, err
	}
	// GateKeeper::MintAuthToken.
	tok := tokens.Token{
		Version:           tokens.Version,
		Challenge:         challenge,
		UserID:            h.UserID,
		AuthenticatorID:   0,
		AuthenticatorType: tokens.AuthPassword,
		Timestamp:         now,
	}
	mac.Sign(&tok)
	if err := t.Tx(ctx, func(tx *store.Tx) error { return clearRecord(tx, h.UserID) }); err != nil {
		// The password was right and the token is minted; a record that
		// failed to clear only throttles the next attempt early.
		t.Log.Error("verify: failure record not cleared", zap.Uint32("uid", uid), zap.Error(err))
	}
	t.Log.Info("verified", zap.Uint32("uid", uid))
	return gkproto.VerifyResponse{Status: gkproto.StatusOK, Token: tok}, nil
}

// DeleteUser is IGatekeeper.deleteUser: it forgets uid's handle (which then
// no longer verifies) and its failure record. An unknown uid is
// ERROR_GENERAL_FAILURE (VTS DeleteInvalidUserTest).
func (t *TA) DeleteUser(ctx context.Context, uid uint32) (gkproto.Status, error) {
	var existed bool
	err := t.Tx(ctx, func(tx *store.Tx) error {
		var err error
		existed, err = deleteUser(tx, uid)
		if err == nil && !existed {
			err = tacore.ErrNoWrite
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if !existed {
		t.Log.Info("delete user: not enrolled", zap.Uint32("uid", uid))
		return gkproto.ErrorGeneralFailure, nil
	}
	t.Log.Info("user deleted", zap.Uint32("uid", uid))
	return gkproto.StatusOK, nil
}

// DeleteAllUsers is IGatekeeper.deleteAllUsers.
func (t *TA) DeleteAllUsers(ctx context.Context) (gkproto.Status, error) {
	if err := t.Tx(ctx, deleteAllUsers); err != nil {
		return 0, err
	}
	t.Log.Info("all users deleted")
	return gkproto.StatusOK, nil
}
