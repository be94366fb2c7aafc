package demo

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/bio/payment/proof"
)

// The payment app's identity with the payment TA: one app key, one scene
// key for payments (SOTER's ASK and AuthKey, reference/payment.md §1.1).
var sceneRef = payment.KeyRef{AppID: "com.example.wallet", Scene: "pay"}

// relayWait bounds how long the demo waits for the HAL to relay the
// fingerprint TA's bio reports (finger list, auth result) to the payment
// TA. The HAL relays them when an operation ends (docs/protocol.md §8.3);
// the REE sees that only through the payment TA's answers.
const relayWait = 5 * time.Second

// relayPoll is the pause between two looks at the payment TA.
const relayPoll = 500 * time.Microsecond

// newChallenge is the payment server's side: a fresh random non-zero
// 64-bit challenge for one order (crypto/rand).
func newChallenge() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		if c := binary.BigEndian.Uint64(b[:]); c != 0 {
			return c
		}
	}
}

// registered is the payment app's key registration: the certificates it
// uploads to its server, checked there as a chain.
type registered struct {
	device, app, scene []byte
	sceneCert          proof.Cert
	attempts           int // CREATE_SCENE_KEY calls until bound to the current fingers
}

// registerScene creates the scene key of sceneRef in the payment TA until
// its certificate binds the group's current finger set (authenticator id
// and finger ids, proof.FingerBinding) — the finger list arrives from the
// fingerprint TA through the HAL's relay, so a key created before the
// latest list would be bound to a stale one — and verifies the chain
// device → app → scene offline. app, if non-nil, is the app certificate
// already registered.
func (r *runner) registerScene(ctx context.Context, app []byte, authID uint64, fids []uint32) (registered, error) {
	var reg registered
	var err error
	if reg.device, err = (payment.GetDeviceCert{}).Execute(ctx, r.pay); err != nil {
		return reg, fmt.Errorf("GET_DEVICE_CERT: %w", err)
	}
	reg.app = app
	if reg.app == nil {
		if reg.app, err = (payment.CreateAppKey{AppID: sceneRef.AppID}).Execute(ctx, r.pay); err != nil {
			return reg, fmt.Errorf("CREATE_APP_KEY: %w", err)
		}
	}
	sorted := slices.Clone(fids)
	slices.Sort(sorted)
	want := proof.FingerBinding(gid, authID, sorted)
	deadline := time.Now().Add(r.wait)
	for {
		reg.attempts++
		reg.scene, err = (payment.CreateSceneKey{Ref: sceneRef, GroupID: gid}).Execute(ctx, r.pay)
		if err != nil && !errors.Is(err, payment.ErrNoFingers) {
			return reg, fmt.Errorf("CREATE_SCENE_KEY: %w", err)
		}
		if err == nil {
			if _, _, reg.sceneCert, err = proof.VerifyChain(reg.device, reg.app, reg.scene); err != nil {
				return reg, fmt.Errorf("certificate chain: %w", err)
			}
			if reg.sceneCert.AuthenticatorID == authID && reg.sceneCert.FingerBinding == want {
				return reg, nil
			}
		}
		if time.Now().After(deadline) {
			return reg, fmt.Errorf("scene key not bound to the enrolled fingers %v after %v: the payment TA never got the finger list (is the HAL relaying bio envelopes?)", sorted, r.wait)
		}
		if err := sleep(ctx, r.poll); err != nil {
			return reg, err
		}
	}
}

// signed is one SIGN_PAYMENT as the payment app saw it.
type signed struct {
	statement []byte
	err       error         // the TA's answer when it was not NOT_AUTHORIZED
	attempts  int           // SIGN_PAYMENT calls until the answer
	start     time.Time     // start of the call that answered
	call      time.Duration // its duration
}

// signWhenRelayed calls SIGN_PAYMENT(challenge, payload) until the payment
// TA answers something other than NOT_AUTHORIZED: the HAL relays the bio
// auth result of the authentication when the operation has ended, so right
// after onAuthenticated it may not have arrived yet. The answer (a
// statement, KEY_INVALIDATED, ...) is in the result; the error is for a
// payment TA that never got the auth result within relayWait.
func (r *runner) signWhenRelayed(ctx context.Context, challenge uint64, payload []byte) (signed, error) {
	var s signed
	deadline := time.Now().Add(r.wait)
	for {
		s.attempts++
		s.start = time.Now()
		st, err := payment.SignPayment{Ref: sceneRef, Challenge: challenge, Payload: payload}.Execute(ctx, r.pay)
		s.call = time.Since(s.start)
		if !errors.Is(err, payment.ErrNotAuthorized) {
			s.statement, s.err = st, err
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("payment TA still answers NOT_AUTHORIZED %v after the match: the bio auth result never arrived (is the HAL relaying bio envelopes?)", r.wait)
		}
		if err := sleep(ctx, r.poll); err != nil {
			return s, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
