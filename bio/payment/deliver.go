package payment

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// open opens env, first checking on its clear header that it comes from
// want (before any cryptography, so an envelope of another route never
// touches that route's replay mark; Opener.OpenIf, one parse of env), and
// returns the message with the staged replay mark. The caller holds
// deliverMu and commits the mark.
func (t *TA) open(env []byte, want tee.UUID) (envelope.Message, *stagedMark, error) {
	t.guard.take()
	m, err := t.Opener.OpenIf(env, func(h envelope.Header) error {
		if h.To == t.Self && h.From != want {
			return fmt.Errorf("%w: %s envelope from %s", payproto.ErrWrongRoute, h.Type, h.Route())
		}
		return nil
	})
	if err != nil {
		t.guard.take()
		return envelope.Message{}, nil, err
	}
	return m, t.guard.take(), nil
}

// Deliver accepts one envelope from the fingerprint TA, relayed by the
// REE: a bio auth result or a finger list (docs/protocol.md §8). It
// refuses envelopes of any other route (ErrWrongRoute), and forged,
// replayed or reordered ones (envelope errors). The replay mark is
// committed in the same transaction as the message's effect.
//
//   - A successful auth result whose transaction id is a pending payment
//     challenge (BeginPayment) is held with it, in memory, for
//     AuthResultTTL after its match; one already older is refused with
//     ErrAuthExpired (its envelope is still consumed). Any other auth
//     result — failed, or for a challenge the payment TA did not issue
//     (a Keystore operation, another app's lost one) — is consumed and
//     dropped. Delivery.Held says which.
//   - A finger list replaces the group's list and invalidates, durably,
//     every scene key of the group bound to a different list.
func (t *TA) Deliver(ctx context.Context, env []byte) (payproto.Delivery, error) {
	t.deliverMu.Lock()
	defer t.deliverMu.Unlock()
	m, mark, err := t.open(env, tee.UUIDFingerprint)
	if err != nil {
		return payproto.Delivery{}, err
	}
	defer clear(m.Payload)
	d := payproto.Delivery{Type: m.Type}
	switch m.Type {
	case envelope.MsgBioAuthResult:
		r, perr := bio.ParseAuthResult(m.Payload)
		if err := t.Tx(ctx, func(tx *store.Tx) error { return replayMarks.Put(tx, mark.route, t.BootID, mark.seq) }); err != nil {
			return payproto.Delivery{}, err
		}
		if perr != nil {
			return payproto.Delivery{}, fmt.Errorf("%w: %w", payproto.ErrBadMessage, perr)
		}
		d.Held, err = t.holdAuthResult(r, m.Seq)
		return d, err
	case envelope.MsgFingerList:
		l, perr := bio.ParseFingerList(m.Payload)
		if perr != nil {
			if err := t.Tx(ctx, func(tx *store.Tx) error { return replayMarks.Put(tx, mark.route, t.BootID, mark.seq) }); err != nil {
				return payproto.Delivery{}, err
			}
			return payproto.Delivery{}, fmt.Errorf("%w: %w", payproto.ErrBadMessage, perr)
		}
		var invalidated []payproto.KeyRef
		err := t.Tx(ctx, func(tx *store.Tx) error {
			invalidated = nil
			if err := replayMarks.Put(tx, mark.route, t.BootID, mark.seq); err != nil {
				return err
			}
			if err := putFingerList(tx, l); err != nil {
				return err
			}
			invalidated, err = invalidateScenes(tx, l)
			return err
		})
		if err != nil {
			return payproto.Delivery{}, err
		}
		d.Invalidated = len(invalidated)
		t.Log.Info("finger list delivered", zap.Uint32("gid", l.GroupID), zap.Int("fingers", len(l.FingerIDs)),
			zap.Int("keys_invalidated", len(invalidated)), zap.Uint64("envelope_seq", m.Seq))
		for _, r := range invalidated {
			t.Log.Info("scene key invalidated", zap.String("app_id", r.AppID), zap.String("scene", r.Scene), zap.Uint32("gid", l.GroupID))
		}
		return d, nil
	}
	// Unreachable: the opener only accepts the fingerprint route's types.
	return payproto.Delivery{}, fmt.Errorf("%w: %s", payproto.ErrWrongRoute, m.Type)
}

// holdAuthResult keeps a successful, unexpired auth result for
// SIGN_PAYMENT with the pending challenge it answers; held is false when
// there is none (the result is dropped).
func (t *TA) holdAuthResult(r bio.AuthResult, seq uint64) (held bool, err error) {
	if !r.Success() {
		t.Log.Info("failed auth result delivered", zap.Uint32("result", r.Result), zap.Uint32("gid", r.GroupID), zap.Uint64("envelope_seq", seq))
		return false, nil
	}
	now := t.Clock.NowMs()
	if r.TimestampMs > now+MaxClockSkewMs {
		// One boot clock serves the whole device: a match cannot be later
		// than its delivery. Such a result would outlive its TTL.
		return false, fmt.Errorf("%w: auth result timestamp %d ms ahead of the boot clock", payproto.ErrBadMessage, r.TimestampMs-now)
	}
	if t.expired(r, now) {
		t.Log.Info("auth result expired on delivery", zap.Uint32("gid", r.GroupID), zap.Uint64("age_ms", now-r.TimestampMs))
		return false, fmt.Errorf("%w: delivered %d ms after the match", payproto.ErrAuthExpired, now-r.TimestampMs)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	p := t.pending[r.TransactionID]
	if p == nil {
		t.Log.Info("auth result for no pending payment challenge dropped", zap.Uint32("gid", r.GroupID), zap.Uint64("envelope_seq", seq))
		return false, nil
	}
	p.result = &r
	t.Log.Debug("auth result held", zap.Uint32("gid", r.GroupID), zap.Uint32("finger_id", r.FingerID), zap.Uint64("envelope_seq", seq))
	return true, nil
}

// expired reports whether r is past its TTL at boot time now. A timestamp
// slightly ahead of now (at most MaxClockSkewMs, checked on delivery)
// counts as age 0.
func (t *TA) expired(r bio.AuthResult, now uint64) bool {
	return now > r.TimestampMs && now-r.TimestampMs > t.ttlMs
}

// invalidateScenes marks every valid scene key of l's group whose binding
// differs from l's as invalidated, and returns them.
func invalidateScenes(tx *store.Tx, l bio.FingerList) ([]payproto.KeyRef, error) {
	refs, err := sceneRefs(tx)
	if err != nil {
		return nil, err
	}
	binding := proof.FingerBinding(l.GroupID, l.AuthenticatorID, l.FingerIDs)
	var out []payproto.KeyRef
	for _, ref := range refs {
		rec, ok, err := loadKey(tx, proof.KindScene, ref)
		if err != nil {
			return nil, err
		}
		if !ok || rec.invalidated {
			continue
		}
		c, err := certBody(rec.cert)
		if err != nil {
			return nil, err
		}
		if c.GroupID != l.GroupID || c.FingerBinding == binding {
			continue
		}
		rec.invalidated = true
		err = putKey(tx, ref, &rec)
		clear(rec.scalar[:])
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	slices.SortFunc(out, func(a, b payproto.KeyRef) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Scene, b.Scene))
	})
	return out, nil
}

// certBody parses a stored signed certificate (integrity comes from the
// sealed row).
func certBody(signed []byte) (proof.Cert, error) {
	s, err := proof.ParseSigned(signed)
	if err != nil {
		return proof.Cert{}, fmt.Errorf("%w: certificate: %w", ErrCorruptRecord, err)
	}
	c, err := proof.ParseCert(s.Body)
	if err != nil {
		return proof.Cert{}, fmt.Errorf("%w: certificate: %w", ErrCorruptRecord, err)
	}
	return c, nil
}

// SetAuthTokenKey accepts Keymaster's auth-token key envelope (the
// launcher relays it to every Keymaster recipient at boot). The payment
// TA holds the key for HAT checks, with the device's MAC algorithm
// (Config.MACAlgorithm, as Keymaster's); only an authentic, fresh
// envelope of type AUTH_TOKEN_KEY from Keymaster with a 32-byte payload is
// accepted. It is tacore's SetAuthTokenKey with the route check before any
// cryptography and the replay mark committed in the TA's store, like
// DELIVER's; the key goes to the shared core (Core.InstallAuthTokenKey).
func (t *TA) SetAuthTokenKey(ctx context.Context, env []byte) error {
	t.deliverMu.Lock()
	defer t.deliverMu.Unlock()
	m, mark, err := t.open(env, tee.UUIDKeymaster)
	if err != nil {
		return err
	}
	defer clear(m.Payload)
	if err := t.Tx(ctx, func(tx *store.Tx) error { return replayMarks.Put(tx, mark.route, t.BootID, mark.seq) }); err != nil {
		return err
	}
	if m.Type != envelope.MsgAuthTokenKey || len(m.Payload) != tokens.KeySize {
		return fmt.Errorf("%w: %s of %d bytes", payproto.ErrBadMessage, m.Type, len(m.Payload))
	}
	if err := t.InstallAuthTokenKey(m.Payload); err != nil {
		return fmt.Errorf("%w: %w", payproto.ErrBadMessage, err)
	}
	t.Log.Info("auth-token key installed", zap.Uint64("envelope_seq", m.Seq))
	return nil
}
