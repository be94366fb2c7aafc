package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/tokens"
)

// keystoreKeyParams are the Keymaster parameters Android Keystore gives a
// key created with setUserAuthenticationRequired(true) and no validity
// duration for biometrics (per-operation auth): SM2 signing with SM3,
// USER_AUTH_TYPE = FINGERPRINT and USER_SECURE_ID = each secure id that
// may authorise it (the fingerprint authenticator id; keystore adds the
// biometric SIDs). No AUTH_TIMEOUT: every operation needs a HAT whose
// challenge is its handle (KeyMint VTS AuthTest.cpp; docs/protocol.md §2.5).
func keystoreKeyParams(sids ...uint64) kmproto.Params {
	ps := kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(kmproto.CurveSM2),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(kmproto.DigestSM3),
		kmproto.UserAuthTypeParam(tokens.AuthFingerprint),
	}
	for _, s := range sids {
		ps = append(ps, kmproto.UserSecureIDParam(s))
	}
	return ps
}

// keystoreSigned is one Keystore signature unlocked by a fingerprint.
type keystoreSigned struct {
	key       *kmproto.GenerateKeyResponse
	op        uint64 // BEGIN's handle = the authenticate operation_id
	auth      drive.Authenticated
	signature []byte
}

// keystoreSign is the Android Keystore path: BEGIN on key → op handle;
// authenticate(operation_id = op) through the HAL with a touch of f (the
// framework passes the handle to the HAL as BiometricPrompt's CryptoObject
// does); FINISH(op, msg, HAT) — Keymaster checks the HAT's MAC, challenge
// = op, FINGERPRINT and the secure id — and the SM2 signature verifies
// under the key's public key.
func (r *runner) keystoreSign(ctx context.Context, key *kmproto.GenerateKeyResponse, f *finger.Finger, noise uint64, msg []byte) (keystoreSigned, error) {
	ks := keystoreSigned{key: key}
	var err error
	if ks.op, err = (kmproto.Begin{Blob: key.Blob, Purpose: kmproto.PurposeSign}).Execute(ctx, r.km); err != nil {
		return ks, fmt.Errorf("BEGIN: %w", err)
	}
	if ks.auth, err = r.authenticate(ctx, ks.op, f, noise); err != nil {
		return ks, err
	}
	if ks.signature, err = (kmproto.Finish{Handle: ks.op, Input: msg, HAT: ks.auth.Event.HAT}).Execute(ctx, r.km); err != nil {
		return ks, fmt.Errorf("FINISH with the HAT of authenticate(op): %w", err)
	}
	if err := kmproto.VerifySignature(kmproto.CurveSM2, key.PublicKey, msg, ks.signature); err != nil {
		return ks, err
	}
	return ks, nil
}

// finishRefused begins a new operation on key and checks that FINISH with
// hat fails with KEY_USER_NOT_AUTHENTICATED; the operation is then
// aborted. hatFor, if set, returns a HAT for the new handle instead
// (e.g. a PASSWORD HAT minted for it).
func (r *runner) finishRefused(ctx context.Context, key *kmproto.GenerateKeyResponse, hat []byte, hatFor func(op uint64) ([]byte, error)) error {
	op, err := (kmproto.Begin{Blob: key.Blob, Purpose: kmproto.PurposeSign}).Execute(ctx, r.km)
	if err != nil {
		return fmt.Errorf("BEGIN: %w", err)
	}
	defer func() {
		actx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = (kmproto.Abort{Handle: op}).Execute(actx, r.km) // the operation may already be gone
	}()
	if hatFor != nil {
		if hat, err = hatFor(op); err != nil {
			return err
		}
	}
	_, err = (kmproto.Finish{Handle: op, Input: []byte("not authorised"), HAT: hat}).Execute(ctx, r.km)
	switch {
	case err == nil:
		return errors.New("FINISH succeeded; want KEY_USER_NOT_AUTHENTICATED")
	case !errors.Is(err, kmproto.ErrKeyUserNotAuthenticated):
		return fmt.Errorf("FINISH: %w; want KEY_USER_NOT_AUTHENTICATED", err)
	}
	return nil
}
