package conform

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// keymasterSession is a session on the device's Keymaster TA: Keystore's
// view of a fingerprint HAT.
type keymasterSession struct {
	client  *rpc.Client
	session *rpc.Session
}

func openKeymaster(ctx context.Context, socketPath string) (*keymasterSession, error) {
	c, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		return nil, fmt.Errorf("conform: keymaster %s: %w", socketPath, err)
	}
	s, err := c.OpenSession(ctx, tee.UUIDKeymaster, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("conform: keymaster %s: open session: %w", socketPath, err)
	}
	return &keymasterSession{client: c, session: s}, nil
}

func (k *keymasterSession) Close() error { return k.client.Close() }

// authenticateKeymasterTest is what Keystore does with the HAT of a
// BIOMETRIC_STRONG, auth-per-operation key (KeyStore2ParameterUtils.addSids,
// AOSP frameworks/base biometrics): a P-256 signing key bound to USER_SECURE_ID =
// getAuthenticatorId() and USER_AUTH_TYPE = FINGERPRINT without
// AUTH_TIMEOUT; begin gives the operation handle, authenticate(handle)
// the HAT, and finish with that HAT must sign — Keymaster verifies the
// HAT's MAC under its auth-token key, its challenge against the handle and
// its authenticator id against the key (keymaster_enforcement.cpp
// AuthTokenMatches).
func authenticateKeymasterTest(t *T) {
	t.notify()
	t.fresh(gidKeymaster)
	t.enroll(gidKeymaster, fingerA)
	id := t.authenticatorID()
	km := t.r.km.session
	k, err := kmproto.GenerateKey{Params: kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(kmproto.CurveP256),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(kmproto.DigestSHA256),
		kmproto.UserAuthTypeParam(tokens.AuthFingerprint),
		kmproto.UserSecureIDParam(id),
	}}.Execute(t.ctx, km)
	if err != nil {
		t.Fatalf("keymaster generate key bound to authenticator id %#x: %v", id, err)
	}
	op, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(t.ctx, km)
	if err != nil {
		t.Fatalf("keymaster begin: %v", err)
	}
	res := t.authenticate(gidKeymaster, op, probeTouches(fingerA))
	msg := []byte("fpemu conform: a payment of 12.34")
	sig, err := kmproto.Finish{Handle: op, Input: msg, HAT: res.match.HAT}.Execute(t.ctx, km)
	if err != nil {
		t.Fatalf("keymaster finish with the HAT of authenticate(operation handle): %v", err)
	}
	if err := kmproto.VerifySignature(kmproto.CurveP256, k.PublicKey, msg, sig); err != nil {
		t.Errorf("keymaster signature: %v", err)
	}
}
