package attack

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// region is a field of a wire structure the forgery attacks tamper with.
type region struct {
	name     string
	off, len int
}

// hatRegions are the fields of the 69-byte hw_auth_token_t (AOSP
// hw_auth_token.h): the MAC covers bytes 0..36.
var hatRegions = []region{
	{"version", 0, 1},
	{"challenge", 1, 8},
	{"user_id", 9, 8},
	{"authenticator_id", 17, 8},
	{"authenticator_type", 25, 4},
	{"timestamp", 29, 8},
	{"hmac", 37, 32},
}

// flip returns a copy of b with one random byte of reg XORed with a
// random non-zero mask, and says where.
func flip(b []byte, reg region) ([]byte, string) {
	out := append([]byte(nil), b...)
	off := reg.off + mrand.IntN(reg.len)
	mask := byte(1 + mrand.IntN(255))
	out[off] ^= mask
	return out, fmt.Sprintf("%s byte %d ^ 0x%02x", reg.name, off, mask)
}

// perOpKey generates an SM2 signing key that needs a FINGERPRINT HAT for
// authID on every operation (USER_SECURE_ID = authenticator id,
// USER_AUTH_TYPE = FINGERPRINT, no AUTH_TIMEOUT: KeyMint per-operation
// auth, docs/protocol.md §2.5).
func perOpKey(ctx context.Context, km rpc.Invoker, authID uint64) (*kmproto.GenerateKeyResponse, error) {
	return kmproto.GenerateKey{Params: kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(kmproto.CurveSM2),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(kmproto.DigestSM3),
		kmproto.UserAuthTypeParam(tokens.AuthFingerprint),
		kmproto.UserSecureIDParam(authID),
	}}.Execute(ctx, km)
}

// payMsg is what the Keymaster operations sign.
var payMsg = []byte("pay 12.34 CNY to merchant 42")

// keystore is the Keymaster side of the HAT attacks: a per-operation key
// bound to finger A's group, and the fixture that authenticates.
type keystore struct {
	fx  *fixture
	km  rpc.Invoker
	key *kmproto.GenerateKeyResponse
}

func (r *runner) keystore(ctx context.Context, t *tally) *keystore {
	fx := r.setup(ctx, t, true, simdev.RestartPolicy{})
	if fx == nil {
		return nil
	}
	km, err := fx.dev.session(ctx, tee.RoleKeymaster)
	if !t.must("keymaster", err) {
		return nil
	}
	key, err := perOpKey(ctx, km, fx.authID)
	if !t.must("GENERATE_KEY", err) {
		return nil
	}
	return &keystore{fx: fx, km: km, key: key}
}

// signingKeystore is a keystore whose control (one genuine signature)
// passed: the path the attacks tamper with works.
func (r *runner) signingKeystore(ctx context.Context, t *tally) *keystore {
	k := r.keystore(ctx, t)
	if k == nil || !k.control(ctx, t) {
		return nil
	}
	return k
}

// begin starts a signing operation; its handle is the challenge a HAT
// must carry.
func (k *keystore) begin(ctx context.Context) (uint64, error) {
	return kmproto.Begin{Blob: k.key.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, k.km)
}

// hatFor authenticates finger A with operation_id = op and returns the
// FINGERPRINT HAT the TA minted.
func (k *keystore) hatFor(ctx context.Context, op uint64) ([]byte, error) {
	e, err := authenticate(ctx, k.fx.fp, k.fx.sen, fingerA, op, 0)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return e.HAT, nil
}

// finish ends op with hat and verifies the signature.
func (k *keystore) finish(ctx context.Context, op uint64, hat []byte) error {
	sig, err := kmproto.Finish{Handle: op, Input: payMsg, HAT: hat}.Execute(ctx, k.km)
	if err != nil {
		return err
	}
	return kmproto.VerifySignature(kmproto.CurveSM2, k.key.PublicKey, payMsg, sig)
}

// authorized begins an operation and authenticates finger A for it: the
// operation handle and its genuine FINGERPRINT HAT.
func (k *keystore) authorized(ctx context.Context, t *tally) (uint64, []byte, bool) {
	op, err := k.begin(ctx)
	if !t.must("BEGIN", err) {
		return 0, nil, false
	}
	hat, err := k.hatFor(ctx, op)
	return op, hat, t.must("authenticate", err)
}

// control signs once with a genuine HAT: the path the attacks tamper with
// works.
func (k *keystore) control(ctx context.Context, t *tally) bool {
	op, hat, ok := k.authorized(ctx, t)
	return ok && t.must("control FINISH with the genuine HAT", k.finish(ctx, op, hat))
}

var hatFlipKeymaster = attack{
	Info: Info{
		ID:      "hat-flip-keymaster",
		Attack:  "flip a byte in each HAT field, FINISH a per-op Keymaster key with it",
		Defence: "HMAC-SHA256 over bytes 0..36 (hw_auth_token.h), KeyMint per-op auth → KEY_USER_NOT_AUTHENTICATED",
		Want:    Rejected,
	},
	run: given((*runner).signingKeystore, func(ctx context.Context, r *runner, k *keystore, t *tally) {
		var name string
		for _, reg := range hatRegions {
			op, hat, ok := k.authorized(ctx, t)
			if !ok {
				return
			}
			bad, where := flip(hat, reg)
			name = t.refused("FINISH with HAT "+where, k.finish(ctx, op, bad), kmproto.ErrKeyUserNotAuthenticated)
		}
		t.summarize("%d/%d flipped HATs → %s; the genuine HAT signs", len(t.held), len(hatRegions), name)
	}),
}

var hatFlipEnroll = attack{
	Info: Info{
		ID:      "hat-flip-enroll",
		Attack:  "flip a byte in each field of the password HAT, enroll a finger with it",
		Defence: "fingerprint TA enroll checks (HMAC, challenge, type, age; protocol §9.5) → ERROR_UNABLE_TO_PROCESS, nothing stored",
		Want:    Rejected,
	},
	run: given(viaHAL(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		_, hat, ok := fx.enrollHAT(ctx, t)
		if !ok {
			return
		}
		var name string
		for _, reg := range hatRegions {
			bad, where := flip(hat, reg)
			name = t.refused("enroll with HAT "+where, tryEnroll(ctx, fx.fp, fx.sen, bad, 0), errUnableToProcess)
		}
		if !genuineEnrollControl(ctx, t, fx, hat) {
			return
		}
		t.summarize("%d/%d flipped HATs → %s; nothing stored; the genuine HAT is accepted", len(hatRegions), len(hatRegions), name)
	}),
}

// genuineEnrollControl enrolls with the genuine hat after the forgeries
// were refused (a refused enrollment leaves the challenge valid; the
// control's enrollment is cancelled) and checks nothing was stored.
func genuineEnrollControl(ctx context.Context, t *tally, fx *fixture, hat []byte) bool {
	if !t.must("control: enroll with the genuine HAT", tryEnroll(ctx, fx.fp, fx.sen, hat, 0)) {
		return false
	}
	checkNothingStored(ctx, t, fx)
	return true
}

// checkNothingStored checks that the group's authenticator id, which
// every stored enrollment changes (protocol §9.7), did not change.
func checkNothingStored(ctx context.Context, t *tally, fx *fixture) {
	id, err := fx.fp.AuthenticatorID(ctx)
	if !t.must("authenticator id", err) {
		return
	}
	if id != fx.authID {
		t.breachf("a template was stored: authenticator id changed from %#x to %#x", fx.authID, id)
	}
}

var hatReplay = attack{
	Info: Info{
		ID:      "hat-replay",
		Attack:  "FINISH operation B with the valid fingerprint HAT of operation A",
		Defence: "per-op key: HAT challenge must equal the operation handle (KeyMint) → KEY_USER_NOT_AUTHENTICATED",
		Want:    Rejected,
	},
	run: given((*runner).keystore, func(ctx context.Context, r *runner, k *keystore, t *tally) {
		opA, err := k.begin(ctx)
		if !t.must("BEGIN A", err) {
			return
		}
		opB, err := k.begin(ctx)
		if !t.must("BEGIN B", err) {
			return
		}
		hatA, err := k.hatFor(ctx, opA)
		if !t.must("authenticate for A", err) {
			return
		}
		name := t.refused("FINISH B with A's HAT", k.finish(ctx, opB, hatA), kmproto.ErrKeyUserNotAuthenticated)
		if !t.must("control: FINISH A with A's HAT", k.finish(ctx, opA, hatA)) {
			return
		}
		opC, err := k.begin(ctx)
		if !t.must("BEGIN C", err) {
			return
		}
		t.refused("FINISH C with A's spent HAT", k.finish(ctx, opC, hatA), kmproto.ErrKeyUserNotAuthenticated)
		t.summarize("A's HAT on B and on a later C → %s; it signs A", name)
	}),
}

var hatGuessedKey = attack{
	Info: Info{
		ID:      "hat-guessed-key",
		Attack:  "re-MAC genuine HATs with a guessed key (random, all-zero) for Keymaster and enroll",
		Defence: "HATs verify only under Keymaster's per-boot auth-token key, never sent in clear (protocol §2.4)",
		Want:    Rejected,
	},
	run: given((*runner).signingKeystore, func(ctx context.Context, r *runner, k *keystore, t *tally) {
		random := make([]byte, tokens.KeySize)
		_, _ = rand.Read(random) // crypto/rand.Read never fails (Go ≥ 1.24)
		guesses := []struct {
			name string
			key  []byte
		}{{"random key", random}, {"zero key", make([]byte, tokens.KeySize)}}
		remac := func(hat, key []byte) ([]byte, error) {
			tok, err := tokens.Parse(hat)
			if err != nil {
				return nil, err
			}
			mac, err := tokens.NewMAC(tokens.HMACSHA256, key)
			if err != nil {
				return nil, err
			}
			mac.Sign(&tok)
			return tok.Marshal(), nil
		}
		for _, g := range guesses {
			op, hat, ok := k.authorized(ctx, t)
			if !ok {
				return
			}
			forged, err := remac(hat, g.key)
			if !t.must("mint", err) {
				return
			}
			t.refused("FINISH with a HAT MACed with a "+g.name, k.finish(ctx, op, forged), kmproto.ErrKeyUserNotAuthenticated)
		}
		fx := k.fx
		_, hat, ok := fx.enrollHAT(ctx, t)
		if !ok {
			return
		}
		for _, g := range guesses {
			forged, err := remac(hat, g.key)
			if !t.must("mint", err) {
				return
			}
			t.refused("enroll with a password HAT MACed with a "+g.name, tryEnroll(ctx, fx.fp, fx.sen, forged, 0), errUnableToProcess)
		}
		if !genuineEnrollControl(ctx, t, fx, hat) {
			return
		}
		t.summarize("%d forged HATs refused (Keymaster: KEY_USER_NOT_AUTHENTICATED, enroll: ERROR_UNABLE_TO_PROCESS); genuine ones work", len(t.held))
	}),
}

var enrollStaleChallenge = attack{
	Info: Info{
		ID:      "enroll-stale-challenge",
		Attack:  "enroll with a password HAT for a challenge closed by post_enroll / replaced by pre_enroll",
		Defence: "HAT challenge must be the outstanding pre_enroll challenge (protocol §9.5 check 4) → ERROR_UNABLE_TO_PROCESS",
		Want:    Rejected,
	},
	run: given(viaHAL(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		_, stale, ok := fx.enrollHAT(ctx, t)
		if !ok {
			return
		}
		if !t.must("postEnroll", fx.fp.PostEnroll(ctx)) {
			return
		}
		name := t.refused("enroll with the HAT of a challenge closed by post_enroll", tryEnroll(ctx, fx.fp, fx.sen, stale, 0), errUnableToProcess)

		_, revoked, ok := fx.enrollHAT(ctx, t)
		if !ok {
			return
		}
		c2, err := fx.fp.PreEnroll(ctx)
		if !t.must("second preEnroll", err) {
			return
		}
		t.refused("enroll with the HAT of a challenge replaced by a newer pre_enroll", tryEnroll(ctx, fx.fp, fx.sen, revoked, 0), errUnableToProcess)
		fresh, err := fx.pin.hat(ctx, c2)
		if !t.must("gatekeeper VERIFY", err) {
			return
		}
		if !t.must("control: enroll with the current challenge's HAT", tryEnroll(ctx, fx.fp, fx.sen, fresh, 0)) {
			return
		}
		_ = fx.fp.PostEnroll(ctx)
		checkNothingStored(ctx, t, fx)
		t.summarize("stale and revoked challenges → %s; the current one is accepted", name)
	}),
}
