// Package keymastertest holds test helpers for the Keymaster TA that work
// against any transport (rpc.Invoker): an in-process TA, a TA behind
// a Unix socket in the same process, or a TA in its own OS process. It
// obtains the auth-token key the way the gatekeeper does (GET_AUTH_TOKEN_KEY,
// then opening the envelope with the gatekeeper's keys), mints PASSWORD
// HATs with it, and ports the intent of KeyMint VTS AuthTest
// (hardware/interfaces security/keymint/aidl/vts/functional/AuthTest.cpp;
// KeyMint VTS AuthTest.cpp) in RunAuthTests.
package keymastertest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

// TestKeyring returns deterministic pairwise keys for every manifest route,
// distinct per gen (one "boot"). For in-process tests only: a real device
// derives them from the fused key (tee/boot).
func TestKeyring(gen byte) envelope.Keyring {
	k := make(envelope.Keyring)
	for i, r := range tee.Routes {
		var key envelope.Key
		for j := range key {
			key[j] = byte(0x5A+0x13*i) ^ byte(j*7) ^ gen
		}
		k[r] = key
	}
	return k
}

// Env is what the auth tests need from a device under test.
type Env struct {
	// Invoker reaches the Keymaster TA (e.g. an *rpc.Session).
	Invoker rpc.Invoker
	// Gatekeeper opens envelopes addressed to the gatekeeper TA: the
	// recipient the auth-token key is requested for.
	Gatekeeper *envelope.Opener
	// NowMs reads the boot clock the TA checks HAT timestamps against.
	NowMs func() uint64
	// Advance, if set, moves the TA's clock forward (a tee.FakeClock). When
	// nil, expiry is tested with back-dated tokens instead of sleeping.
	Advance func(time.Duration)
	// MAC is the TA's HAT MAC algorithm (zero value: HMAC-SHA256).
	MAC tokens.MACAlgorithm
}

// AuthTokenMAC fetches the auth-token key for the gatekeeper through
// GET_AUTH_TOKEN_KEY, opens the envelope as the gatekeeper TA would, and
// returns an HMAC-SHA256 MAC keyed with it (AOSP's HAT MAC).
func AuthTokenMAC(ctx context.Context, inv rpc.Invoker, gatekeeper *envelope.Opener) (*tokens.MAC, error) {
	return AuthTokenMACFor(ctx, inv, gatekeeper, tokens.HMACSHA256)
}

// AuthTokenMACFor is AuthTokenMAC for a TA configured with another HAT MAC
// algorithm.
func AuthTokenMACFor(ctx context.Context, inv rpc.Invoker, gatekeeper *envelope.Opener, alg tokens.MACAlgorithm) (*tokens.MAC, error) {
	env, err := kmproto.GetAuthTokenKey{Recipient: gatekeeper.Self()}.Execute(ctx, inv)
	if err != nil {
		return nil, err
	}
	msg, err := gatekeeper.Open(env)
	if err != nil {
		return nil, err
	}
	if msg.From != tee.UUIDKeymaster || msg.Type != envelope.MsgAuthTokenKey {
		return nil, fmt.Errorf("keymastertest: envelope from %s of type %s", msg.From, msg.Type)
	}
	defer clear(msg.Payload)
	return tokens.NewMAC(alg, msg.Payload)
}

// HAT describes a token to mint.
type HAT struct {
	Challenge       uint64
	UserID          uint64
	AuthenticatorID uint64
	Type            tokens.AuthenticatorType
	TimestampMs     uint64
}

// Mint returns the 69-byte hw_auth_token_t for h, MACed with m, as
// GateKeeper::MintAuthToken does.
func Mint(m *tokens.MAC, h HAT) []byte {
	t := tokens.Token{
		Version:           tokens.Version,
		Challenge:         h.Challenge,
		UserID:            h.UserID,
		AuthenticatorID:   h.AuthenticatorID,
		AuthenticatorType: h.Type,
		Timestamp:         h.TimestampMs,
	}
	m.Sign(&t)
	return t.Marshal()
}

// FlipMACBit returns a copy of hat with bit 0 of mac[0] flipped (VTS:
// "auth_token.mac[0] ^= 1").
func FlipMACBit(hat []byte) []byte {
	out := append([]byte(nil), hat...)
	out[tokens.MACedSize] ^= 1
	return out
}

// RandomSID returns a random non-zero secure user ID, as Gatekeeper's
// untrusted enroll draws one.
func RandomSID(t testing.TB) uint64 {
	var b [8]byte
	for {
		_, err := rand.Read(b[:])
		require.NoError(t, err)
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// SigningKey returns the parameters of an auth-bound signing key on curve.
func SigningKey(curve kmproto.ECCurve, authType tokens.AuthenticatorType, timeoutSec *uint32, sids ...uint64) kmproto.Params {
	d := kmproto.DigestSHA256
	if curve == kmproto.CurveSM2 {
		d = kmproto.DigestSM3
	}
	ps := kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(curve),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(d),
		kmproto.UserAuthTypeParam(authType),
	}
	for _, s := range sids {
		ps = append(ps, kmproto.UserSecureIDParam(s))
	}
	if timeoutSec != nil {
		ps = append(ps, kmproto.AuthTimeoutParam(*timeoutSec))
	}
	return ps
}

// Seconds returns a pointer to s, for SigningKey's timeout.
func Seconds(s uint32) *uint32 { return &s }

// ServeUnix hosts ta under uuid on a fresh Unix socket and returns a
// session opened on it through rpc.Dial (tatest.ServeUnix, which owns the
// harness; kept for existing callers).
func ServeUnix(t testing.TB, uuid tee.UUID, ta rpc.TA) *rpc.Session {
	t.Helper()
	return tatest.ServeUnix(t, uuid, ta)
}
