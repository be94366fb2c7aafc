package payment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

// errInvalidatedNow carries a key invalidation decided inside a signing
// transaction out of it, after the invalidation was committed.
var errInvalidatedNow = errors.New("payment: key invalidated during signing")

// SignPayment signs a payment statement with the scene key of ref (SOTER's
// "no authorisation, no signature") for client identity owner. In order,
// it requires:
//
//  1. the scene key exists (ErrNoKey), belongs to owner (ErrNotOwner) and
//     is not invalidated (ErrKeyInvalidated);
//  2. challenge was issued by BeginPayment to owner for ref, and a held,
//     successful auth result whose transaction id equals it was
//     delivered (ErrNotAuthorized), neither having expired
//     (ErrAuthExpired; an expired challenge is dropped);
//  3. the result is for the key's group (ErrNotAuthorized) and matches
//     the key's binding: same authenticator id and a finger of the bound
//     list. A mismatch with a match newer than the key means the enrolled
//     set changed even though no finger list said so (the REE withheld
//     it): the key is invalidated durably (ErrKeyInvalidated). A match
//     older than the key (created in this boot after it) only authorises
//     nothing (ErrNotAuthorized).
//
// Then, in one transaction (a commit whose rollback counter lags is a
// signature: tacore.Spec.CounterLagCommits), the persisted counter is incremented and the
// statement {device, counter, challenge, SM3(payload), finger id, group,
// TA and sensor versions, app, scene} is signed. The auth result is
// consumed, with its challenge, by a successful signature only; after any
// failure both stay usable until they expire.
func (t *TA) SignPayment(ctx context.Context, owner tee.UUID, ref payproto.KeyRef, challenge uint64, payload []byte) ([]byte, error) {
	return t.SignPaymentWithPassword(ctx, owner, ref, challenge, payload, nil)
}

// SignPaymentWithPassword is SignPayment with the device password factor
// (docs/protocol.md §8.7, seed 003): when passwordHAT is not nil it must
// be a Gatekeeper PASSWORD hw_auth_token_t for this payment's challenge —
// checkPasswordHAT — and the statement then carries proof.FlagPassword
// (statement version 2). A HAT that fails a check is ErrNotAuthorized
// before anything else is touched: the challenge and its auth result
// stay usable.
func (t *TA) SignPaymentWithPassword(ctx context.Context, owner tee.UUID, ref payproto.KeyRef, challenge uint64, payload, passwordHAT []byte) ([]byte, error) {
	var flags proof.StatementFlags
	if passwordHAT != nil {
		if err := t.checkPasswordHAT(passwordHAT, challenge); err != nil {
			t.Log.Info("payment refused: password token", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene), zap.Error(err))
			return nil, err
		}
		flags |= proof.FlagPassword
	}
	if err := ref.Check(); err != nil {
		return nil, err
	}
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	if ref.IsApp() {
		return nil, fmt.Errorf("%w: signing needs a scene key", payproto.ErrBadRequest)
	}
	if len(payload) > payproto.MaxPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes, max %d", payproto.ErrBadRequest, len(payload), payproto.MaxPayload)
	}
	hash := proof.PayloadHash(payload)
	var out []byte
	var st proof.Statement
	var used *pendingPayment
	err := t.Tx(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, proof.KindScene, ref)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", payproto.ErrNoKey, ref)
		}
		defer clear(rec.scalar[:])
		if err := checkOwner(&rec, owner, ref); err != nil {
			return err
		}
		if rec.invalidated {
			return fmt.Errorf("%w: %s", payproto.ErrKeyInvalidated, ref)
		}
		cert, err := certBody(rec.cert)
		if err != nil {
			return err
		}
		// Write transactions are serialised, so taking the result here
		// cannot race with another signature; it is restored below if the
		// transaction does not commit.
		p, err := t.takeChallenge(owner, ref, challenge)
		if err != nil {
			return err
		}
		used = p
		r := *p.result
		if r.GroupID != cert.GroupID {
			return fmt.Errorf("%w: authorised by group %d, key of group %d", payproto.ErrNotAuthorized, r.GroupID, cert.GroupID)
		}
		if r.AuthenticatorID != cert.AuthenticatorID || !slices.Contains(rec.fingers, r.FingerID) {
			if bytes.Equal(rec.bootID, t.BootID) && r.TimestampMs < rec.createdMs {
				// The match predates the key: the key is newer than the
				// enrollment state the result saw, not stale.
				return fmt.Errorf("%w: the match predates the key", payproto.ErrNotAuthorized)
			}
			return errInvalidatedNow
		}
		counter, err := nextCounter(tx)
		if err != nil {
			return err
		}
		st = proof.Statement{
			DeviceID: t.devID, Counter: counter, Challenge: challenge, PayloadHash: hash,
			FingerID: r.FingerID, GroupID: r.GroupID, TAVersion: TAVersion, SensorVersion: r.SensorVersion,
			AppID: ref.AppID, Scene: ref.Scene, Flags: flags,
		}
		body, err := st.Marshal()
		if err != nil {
			return err
		}
		priv, err := privateKey(&rec)
		if err != nil {
			return err
		}
		out, err = proof.Sign(priv, body)
		return err
	})
	if errors.Is(err, errInvalidatedNow) {
		// The signing transaction rolled back; the invalidation is its own
		// committed change.
		t.restoreChallenge(challenge, used)
		if ierr := t.invalidate(ctx, ref); ierr != nil {
			return nil, ierr
		}
		t.Log.Warn("scene key invalidated at signing: auth result does not match its finger binding",
			zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene), zap.Uint32("gid", used.result.GroupID))
		return nil, fmt.Errorf("%w: %s: the enrolled fingers changed", payproto.ErrKeyInvalidated, ref)
	}
	if err != nil {
		if used != nil {
			t.restoreChallenge(challenge, used)
		}
		t.Log.Info("payment refused", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene), zap.Error(err))
		return nil, err
	}
	// The routine success of every payment is debug (a log line costs
	// each payment a write and the launcher a wake-up; docs/benchmarks.md,
	// issue 14); every refusal above stays info.
	t.Log.Debug("payment signed", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene),
		zap.Uint32("gid", st.GroupID), zap.Uint32("finger_id", st.FingerID), zap.Uint64("counter", st.Counter),
		zap.Bool("password", flags.Has(proof.FlagPassword)))
	return out, nil
}

// checkPasswordHAT checks a device-password token for a payment, as
// Keymaster checks a per-operation token (AOSP hw_auth_token.h; Keymaster
// "auth per operation": the token's challenge is the operation):
//
//  0. the auth-token key has arrived (else fail closed)
//  1. 69 bytes, version 0                  tokens.Parse, tokens.Verifier
//  2. HMAC under the auth-token key        tokens.Verifier (constant time)
//  3. authenticator type has PASSWORD      tokens.Verifier.WithAuthenticatorTypes
//  4. challenge = the payment's challenge  tokens.Verifier.WithChallenge
//  5. at most AuthResultTTL old            tokens.Verifier.WithFreshness
//
// (4) makes it single-use with the challenge: SIGN_PAYMENT consumes the
// challenge, so the same token never authorises a second statement.
// Every refusal is ErrNotAuthorized; the reason goes to the TA's log
// only.
func (t *TA) checkPasswordHAT(hat []byte, challenge uint64) error {
	mac := t.AuthTokenMAC()
	if mac == nil {
		return fmt.Errorf("%w: no auth-token key to check the password token", payproto.ErrNotAuthorized)
	}
	_, err := tokens.NewVerifier(mac).
		WithAuthenticatorTypes(tokens.AuthPassword).
		WithChallenge(challenge).
		WithFreshness(t.Clock.NowMs(), time.Duration(t.ttlMs)*time.Millisecond).
		Verify(hat)
	if err != nil {
		return fmt.Errorf("%w: password token: %w", payproto.ErrNotAuthorized, err)
	}
	return nil
}

// invalidate marks the scene key of ref invalidated in its own
// transaction.
func (t *TA) invalidate(ctx context.Context, ref payproto.KeyRef) error {
	return t.Tx(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, proof.KindScene, ref)
		if err != nil || !ok || rec.invalidated {
			if err == nil {
				err = tacore.ErrNoWrite
			}
			return err
		}
		defer clear(rec.scalar[:])
		rec.invalidated = true
		return putKey(tx, ref, &rec)
	})
}
