package payment

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/store"
)

// pendingPayment is a challenge BEGIN_PAYMENT issued, bound to the client
// identity and the scene key it was issued for, with the auth result
// DELIVER brought for it, if any. It lives in memory only.
type pendingPayment struct {
	owner    tee.UUID
	ref      payproto.KeyRef
	issuedMs uint64 // boot clock at BEGIN_PAYMENT
	result   *bio.AuthResult
}

// expiredAt reports whether p is past its TTL at boot time now: the
// challenge TTL after issue while no auth result came, the auth result's
// TTL after its match once one did.
func (t *TA) expiredAt(p *pendingPayment, now uint64) bool {
	if p.result != nil {
		return t.expired(*p.result, now)
	}
	return now > p.issuedMs && now-p.issuedMs > t.ttlMs
}

// pruneLocked drops expired challenges; t.mu must be held.
func (t *TA) pruneLocked(now uint64) {
	for c, p := range t.pending {
		if t.expiredAt(p, now) {
			delete(t.pending, c)
		}
	}
}

// BeginPayment issues a payment challenge for the scene key of ref, as
// Keystore's begin() hands out the operation handle an app then passes to
// FingerprintManager.authenticate: the app authenticates a finger with
// operation_id = the challenge, the auth result for it is delivered
// (DELIVER), and SIGN_PAYMENT spends it with this challenge. The
// challenge is drawn from the TA's Rand (crypto/rand), non-zero, and bound in memory to
// (owner, ref); it expires AuthResultTTL after issue unless an auth
// result arrives, then with that result.
//
// The key must exist (ErrNoKey), belong to owner (ErrNotOwner) and not be
// invalidated (ErrKeyInvalidated). Bounds: an identity's
// MaxChallengesPerIdentity-th outstanding challenge evicts its own oldest;
// MaxPendingChallenges in total, then ErrChallengesBusy.
func (t *TA) BeginPayment(ctx context.Context, owner tee.UUID, ref payproto.KeyRef) (uint64, error) {
	if err := ref.Check(); err != nil {
		return 0, err
	}
	if ref.IsApp() {
		return 0, fmt.Errorf("%w: a payment needs a scene key", payproto.ErrBadRequest)
	}
	if err := checkCaller(owner); err != nil {
		return 0, err
	}
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, proof.KindScene, ref)
		if err != nil {
			return err
		}
		clear(rec.scalar[:])
		switch {
		case !ok:
			return fmt.Errorf("%w: %s", payproto.ErrNoKey, ref)
		case rec.owner != owner:
			return fmt.Errorf("%w: %s", payproto.ErrNotOwner, ref)
		case rec.invalidated:
			return fmt.Errorf("%w: %s", payproto.ErrKeyInvalidated, ref)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	now := t.Clock.NowMs()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	var mine []uint64
	for c, p := range t.pending {
		if p.owner == owner {
			mine = append(mine, c)
		}
	}
	if len(mine) >= payproto.MaxChallengesPerIdentity {
		oldest := mine[0]
		for _, c := range mine[1:] {
			if t.pending[c].issuedMs < t.pending[oldest].issuedMs {
				oldest = c
			}
		}
		delete(t.pending, oldest)
	} else if len(t.pending) >= payproto.MaxPendingChallenges {
		return 0, fmt.Errorf("%w: %d outstanding", payproto.ErrChallengesBusy, len(t.pending))
	}
	var c uint64
	for c == 0 || t.pending[c] != nil {
		var err error
		if c, err = t.RandomNonZero(); err != nil {
			return 0, fmt.Errorf("payment: draw challenge: %w", err)
		}
	}
	t.pending[c] = &pendingPayment{owner: owner, ref: ref, issuedMs: now}
	t.Log.Debug("payment challenge issued", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene))
	return c, nil
}

// takeChallenge removes and returns the challenge issued to owner for ref
// with its auth result (ErrNotAuthorized when there is no such challenge,
// it was issued to another identity or for another key, or no auth result
// came for it; ErrAuthExpired, dropping it, when it expired).
func (t *TA) takeChallenge(owner tee.UUID, ref payproto.KeyRef, challenge uint64) (*pendingPayment, error) {
	now := t.Clock.NowMs()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[challenge]
	if p == nil || p.owner != owner || p.ref != ref {
		return nil, fmt.Errorf("%w: no challenge issued to this client for this key", payproto.ErrNotAuthorized)
	}
	if t.expiredAt(p, now) {
		delete(t.pending, challenge)
		return nil, fmt.Errorf("%w: challenge or its auth result too old", payproto.ErrAuthExpired)
	}
	if p.result == nil {
		return nil, fmt.Errorf("%w: no fingerprint authorisation for the challenge yet", payproto.ErrNotAuthorized)
	}
	delete(t.pending, challenge)
	return p, nil
}

// restoreChallenge puts back a challenge taken by a signature that did
// not commit, unless its slot was reused meanwhile.
func (t *TA) restoreChallenge(challenge uint64, p *pendingPayment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[challenge]; !ok {
		t.pending[challenge] = p
	}
}
