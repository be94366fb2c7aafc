package demo

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/sim/drive"
)

// The payment app's identity with the payment TA: one app key, one scene
// key for payments (SOTER's ASK and AuthKey, Tencent SOTER's ATTK → ASK → AuthKey hierarchy).
var sceneRef = payproto.KeyRef{AppID: "com.example.wallet", Scene: "pay"}

// app is the payment app as it pays with the scene key registered last
// (drive.App: BEGIN_PAYMENT, SIGN_PAYMENT verified offline, the whole
// payment). The payment TA issues the challenge the app authenticates
// with (operation_id) and later signs for, bound to the app's identity
// and scene key (docs/protocol.md §8).
func (r *runner) app() drive.App {
	return drive.App{Session: r.pay, Ref: sceneRef, Scene: r.reg.SceneCert}
}

// newChallenge is a fresh random non-zero 64-bit operation id for an
// authentication no payment waits for (crypto/rand).
func newChallenge() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		if c := binary.BigEndian.Uint64(b[:]); c != 0 {
			return c
		}
	}
}

// registerScene creates the scene key of sceneRef in the payment TA and
// verifies the chain device → app → scene offline (drive.RegisterScene).
// It runs after the enrollment's onEnrollResult(remaining 0), before
// which the HAL has delivered the fingerprint TA's new finger list to the
// payment TA (docs/protocol.md §10.5): so the first key must bind the
// group's current finger set (authenticator id and finger ids,
// proof.FingerBinding); a key bound to another set, or no finger list at
// all, means the HAL did not relay it. app, if non-nil, is the app
// certificate already registered.
func (r *runner) registerScene(ctx context.Context, app []byte, authID uint64, fids []uint32) (drive.Registration, error) {
	reg, err := drive.RegisterScene(ctx, r.pay, sceneRef, gid, app)
	if errors.Is(err, payproto.ErrNoFingers) {
		return reg, fmt.Errorf("after onEnrollResult(remaining 0): the payment TA has no finger list for group %d (is the HAL relaying bio envelopes?): %w", gid, err)
	}
	if err != nil {
		return reg, err
	}
	sorted := slices.Clone(fids)
	slices.Sort(sorted)
	if reg.SceneCert.AuthenticatorID != authID || reg.SceneCert.FingerBinding != proof.FingerBinding(gid, authID, sorted) {
		return reg, fmt.Errorf("scene key bound to authenticator id %#x, not to the enrolled fingers %v (authenticator id %#x): the payment TA had an old finger list at onEnrollResult(remaining 0) (is the HAL relaying bio envelopes?)",
			reg.SceneCert.AuthenticatorID, sorted, authID)
	}
	return reg, nil
}

// signed is one SIGN_PAYMENT as the payment app saw it.
type signed struct {
	statement []byte
	err       error         // the TA's answer when it was not a statement
	start     time.Time     // start of the call
	call      time.Duration // its duration
}

// signAtCallback calls SIGN_PAYMENT(challenge, payload) once, as soon as
// the app has onAuthenticated for challenge. The HAL delivers the bio auth
// result to the payment TA before it makes that callback (docs/protocol.md
// §10.5; in QSEE bio_set_auth_result runs in the TEE before the token goes
// back), so NOT_AUTHORIZED here is an error: the HAL did not relay it. Any
// other answer (a statement, KEY_INVALIDATED, ...) is in the result.
func (r *runner) signAtCallback(ctx context.Context, challenge uint64, payload []byte) (signed, error) {
	var s signed
	s.start = time.Now()
	st, err := payproto.SignPayment{Ref: sceneRef, Challenge: challenge, Payload: payload}.Execute(ctx, r.pay)
	s.call = time.Since(s.start)
	if errors.Is(err, payproto.ErrNotAuthorized) {
		return s, fmt.Errorf("SIGN_PAYMENT right after onAuthenticated: %w: %w", drive.ErrNotRelayed, err)
	}
	s.statement, s.err = st, err
	return s, nil
}
