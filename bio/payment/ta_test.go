package payment

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/bio/payment/proof/prooftest"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

var payload = []byte(`{"order":"A-1001","amount":"12.34","currency":"CNY"}`)

// sign runs SIGN_PAYMENT for the test scene key.
func sign(t testing.TB, inv rpc.Invoker, challenge uint64) ([]byte, error) {
	t.Helper()
	return payproto.SignPayment{Ref: sceneRef, Challenge: challenge, Payload: payload}.Execute(testCtx(t), inv)
}

// begin runs BEGIN_PAYMENT for ref and requires a challenge.
func begin(t testing.TB, inv rpc.Invoker, ref payproto.KeyRef) uint64 {
	t.Helper()
	c, err := payproto.BeginPayment{Ref: ref}.Execute(testCtx(t), inv)
	require.NoError(t, err)
	require.NotZero(t, c)
	return c
}

func TestHappyPath(t *testing.T) {
	d := newDevice(t)
	s := serve(t, d.open(t))
	scene := registered(t, d, s)
	assert.Equal(t, uint32(0), scene.GroupID)
	assert.Equal(t, uint64(0xA1), scene.AuthenticatorID)
	assert.Equal(t, proof.FingerBinding(0, 0xA1, []uint32{1, 2}), scene.FingerBinding)

	var last uint64
	for i := range 2 {
		op := begin(t, s, sceneRef)
		got := deliver(t, s, d.match(t, 0, 0xA1, 2, op))
		assert.Equal(t, envelope.MsgBioAuthResult, got.Type)
		assert.True(t, got.Held, "the auth result answers a pending challenge")
		signed, err := sign(t, s, op)
		require.NoError(t, err)
		st, err := proof.VerifyPayment(signed, scene, op, payload)
		require.NoError(t, err, "payment %d", i)
		assert.Equal(t, uint32(2), st.FingerID)
		assert.Equal(t, TAVersion, st.TAVersion)
		assert.Equal(t, uint32(0x00010002), st.SensorVersion)
		assert.Equal(t, scene.DeviceID, st.DeviceID)
		assert.Greater(t, st.Counter, last, "counter strictly increasing")
		last = st.Counter
	}
}

// TestOpenSSLVerifiesStatement runs the command of docs/protocol.md on a
// statement and certificates produced by the TA.
func TestOpenSSLVerifiesStatement(t *testing.T) {
	prooftest.OpenSSL(t)
	d := newDevice(t)
	s := serve(t, d.open(t))
	scene := registered(t, d, s)
	op := authorized(t, d, s)
	signed, err := sign(t, s, op)
	require.NoError(t, err)
	out, ok := prooftest.Verify(t, signed, scene.PublicKey)
	require.True(t, ok, out)
	assert.Contains(t, out, "Verified OK")

	appCert, err := payproto.GetCert{Ref: payproto.KeyRef{AppID: testApp}}.Execute(testCtx(t), s)
	require.NoError(t, err)
	sceneCert, err := payproto.GetCert{Ref: sceneRef}.Execute(testCtx(t), s)
	require.NoError(t, err)
	app, err := certBody(appCert)
	require.NoError(t, err)
	out, ok = prooftest.Verify(t, sceneCert, app.PublicKey)
	require.True(t, ok, "scene certificate under the app key: %s", out)

	tampered := append([]byte(nil), signed...)
	tampered[4+40] ^= 1 // a byte of the payload hash
	out, ok = prooftest.Verify(t, tampered, scene.PublicKey)
	assert.False(t, ok, "OpenSSL must refuse a tampered statement: %s", out)
}

func TestWrongRouteRejected(t *testing.T) {
	d := newDevice(t)
	s := serve(t, d.open(t))
	ctx := testCtx(t)
	kmToPay, err := d.KM.Seal(tee.UUIDPayment, envelope.MsgAuthTokenKey, randBytes(t, tokens.KeySize))
	require.NoError(t, err)
	kmToGK, err := d.KM.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, randBytes(t, tokens.KeySize))
	require.NoError(t, err)
	// The fingerprint route sealed with another boot's key.
	other := newDevice(t)
	otherBoot := other.match(t, 0, 0xA1, 1, 5)
	good := d.match(t, 0, 0xA1, 1, 5)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1

	cases := []struct {
		name string
		env  []byte
		want error
	}{
		{"keymaster envelope to DELIVER", kmToPay, payproto.ErrWrongRoute},
		{"envelope for the gatekeeper", kmToGK, tee.ErrAccessDenied},
		{"fingerprint route, other boot's key", otherBoot, tee.ErrSecurity},
		{"tag flipped", flipped, tee.ErrSecurity},
		{"not an envelope", []byte("hello"), tee.ErrBadFormat},
		{"empty", nil, tee.ErrBadFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := payproto.Deliver{Envelope: c.env}.Execute(ctx, s)
			require.ErrorIs(t, err, c.want)
		})
	}
	// None of the rejects burnt the route's mark: the genuine envelope
	// still opens, and the keymaster envelope is still good for
	// SET_AUTH_TOKEN_KEY.
	deliver(t, s, good)
	require.NoError(t, payproto.SetAuthTokenKey{Envelope: kmToPay}.Execute(ctx, s))
	_, err = payproto.Deliver{Envelope: good}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrSecurity)
	// A fingerprint envelope is not an auth-token key.
	err = payproto.SetAuthTokenKey{Envelope: d.fingerList(t, 0, 1, 1)}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrWrongRoute)
}

func TestReplayRejected(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	s := serve(t, ta)
	registered(t, d, s)
	ctx := testCtx(t)
	c1, c2 := begin(t, s, sceneRef), begin(t, s, sceneRef)
	e1 := d.match(t, 0, 0xA1, 1, c1)
	e2 := d.match(t, 0, 0xA1, 1, c2)
	deliver(t, s, e2)
	_, err := payproto.Deliver{Envelope: e2}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrSecurity, "replay")
	_, err = payproto.Deliver{Envelope: e1}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrSecurity, "reordered: older than the mark")
	_, err = sign(t, s, c1)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "the rejected envelope's result was not held")

	// Marks survive a restart of the TA within the boot.
	require.NoError(t, ta.Close())
	s2 := serve(t, d.open(t))
	_, err = payproto.Deliver{Envelope: e2}.Execute(ctx, s2)
	require.ErrorIs(t, err, tee.ErrSecurity, "replay after restart")
	_, err = sign(t, s2, c2)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "challenges and auth results do not survive a restart")
}

func TestSingleUse(t *testing.T) {
	d, s := registeredSession(t)
	c := authorized(t, d, s)
	_, err := sign(t, s, c)
	require.NoError(t, err)
	_, err = sign(t, s, c)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
	// Another scene of the same app cannot reuse it either.
	_, err = payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: testApp, Scene: "transfer"}, GroupID: 0}.Execute(testCtx(t), s)
	require.NoError(t, err)
	_, err = payproto.SignPayment{Ref: payproto.KeyRef{AppID: testApp, Scene: "transfer"}, Challenge: c, Payload: payload}.Execute(testCtx(t), s)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
	// Nor can a challenge issued for one scene key be spent with another.
	c = authorized(t, d, s)
	_, err = payproto.SignPayment{Ref: payproto.KeyRef{AppID: testApp, Scene: "transfer"}, Challenge: c, Payload: payload}.Execute(testCtx(t), s)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
	_, err = sign(t, s, c)
	require.NoError(t, err, "the refusal consumed nothing")
}

func TestExpiry(t *testing.T) {
	d, s := registeredSession(t)

	c1 := authorized(t, d, s)
	d.Clock.Advance(DefaultAuthResultTTL)
	_, err := sign(t, s, c1)
	require.NoError(t, err, "usable for exactly the TTL")

	c2 := authorized(t, d, s)
	d.Clock.Advance(DefaultAuthResultTTL + time.Millisecond)
	_, err = sign(t, s, c2)
	require.ErrorIs(t, err, payproto.ErrAuthExpired)
	assert.False(t, errors.Is(err, payproto.ErrNotAuthorized))
	_, err = sign(t, s, c2)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "an expired result is dropped")

	// A challenge no auth result answered expires TTL after issue.
	c5 := begin(t, s, sceneRef)
	d.Clock.Advance(DefaultAuthResultTTL + time.Millisecond)
	got := deliver(t, s, d.match(t, 0, 0xA1, 1, c5))
	assert.False(t, got.Held, "the challenge had expired")
	_, err = sign(t, s, c5)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)

	future := d.match(t, 0, 0xA1, 1, begin(t, s, sceneRef))
	d.Clock.Set(d.Clock.NowMs() - MaxClockSkewMs - 1) // the payment TA's clock behind the match
	_, err = payproto.Deliver{Envelope: future}.Execute(testCtx(t), s)
	require.ErrorIs(t, err, tee.ErrBadFormat, "a match from the future")
	d.Clock.Advance(time.Hour)

	late := d.match(t, 0, 0xA1, 1, begin(t, s, sceneRef))
	d.Clock.Advance(DefaultAuthResultTTL + time.Second)
	_, err = payproto.Deliver{Envelope: late}.Execute(testCtx(t), s)
	require.ErrorIs(t, err, payproto.ErrAuthExpired, "delivered too late")
}

func TestWrongChallenge(t *testing.T) {
	d := newDevice(t)
	s := serve(t, d.open(t))
	scene := registered(t, d, s)
	c := authorized(t, d, s)
	_, err := sign(t, s, c^1)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
	signed, err := sign(t, s, c)
	require.NoError(t, err, "the right challenge still works")
	_, err = proof.VerifyPayment(signed, scene, c^1, payload)
	require.ErrorIs(t, err, proof.ErrChallenge, "a server expecting another challenge refuses it")
}

func TestFailedAndForeignResults(t *testing.T) {
	d, s := registeredSession(t)
	c9 := begin(t, s, sceneRef)
	require.NoError(t, d.fp.SetAuthResult(1, 0, c9, bio.Match{GroupID: 0, AuthenticatorID: 0xA1}))
	assert.False(t, deliver(t, s, d.drain(t)).Held)
	_, err := sign(t, s, c9)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "a rejected finger authorises nothing")

	c10 := begin(t, s, sceneRef)
	deliver(t, s, d.match(t, 7, 0xB7, 1, c10))
	_, err = sign(t, s, c10)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "a match in another group")

	// A match for an operation the payment TA did not issue (a Keystore
	// operation id, say) is consumed and dropped: it authorises nothing.
	got := deliver(t, s, d.match(t, 0, 0xA1, 1, 0x5EED))
	assert.False(t, got.Held)
	_, err = sign(t, s, 0x5EED)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
}

func TestKeyInvalidation(t *testing.T) {
	cases := []struct {
		name    string
		authID  uint64
		fingers []uint32
	}{
		{"enroll a finger", 0xA2, []uint32{1, 2, 3}},
		{"remove a finger", 0xA1, []uint32{1}},
		{"remove all", 0xA1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDevice(t)
			ta := d.open(t)
			s := serve(t, ta)
			registered(t, d, s)
			// A scene key of another group is not touched.
			deliver(t, s, d.fingerList(t, 5, 0x55, 4))
			other := payproto.KeyRef{AppID: testApp, Scene: "group5"}
			_, err := payproto.CreateSceneKey{Ref: other, GroupID: 5}.Execute(testCtx(t), s)
			require.NoError(t, err)

			pending := begin(t, s, sceneRef)
			got := deliver(t, s, d.fingerList(t, 0, c.authID, c.fingers...))
			assert.Equal(t, 1, got.Invalidated)
			_, err = payproto.BeginPayment{Ref: sceneRef}.Execute(testCtx(t), s)
			require.ErrorIs(t, err, payproto.ErrKeyInvalidated, "no new challenge for an invalidated key")
			deliver(t, s, d.match(t, 0, c.authID, 1, pending))
			_, err = sign(t, s, pending)
			require.ErrorIs(t, err, payproto.ErrKeyInvalidated)
			var te *tee.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, payproto.ResultKeyInvalidated, te.Code, "a distinct result code")
			assert.False(t, errors.Is(err, payproto.ErrNotAuthorized))

			c51 := begin(t, s, other)
			deliver(t, s, d.match(t, 5, 0x55, 4, c51))
			_, err = payproto.SignPayment{Ref: other, Challenge: c51, Payload: payload}.Execute(testCtx(t), s)
			require.NoError(t, err, "group 5's key is still valid")

			// Invalidation is durable.
			require.NoError(t, ta.Close())
			s2 := serve(t, d.open(t))
			_, err = payproto.BeginPayment{Ref: sceneRef}.Execute(testCtx(t), s2)
			require.ErrorIs(t, err, payproto.ErrKeyInvalidated)

			// Re-registering binds to the new list.
			_, err = payproto.CreateSceneKey{Ref: sceneRef, GroupID: 0}.Execute(testCtx(t), s2)
			if len(c.fingers) == 0 {
				require.ErrorIs(t, err, payproto.ErrNoFingers)
				return
			}
			require.NoError(t, err)
			c52 := begin(t, s2, sceneRef)
			deliver(t, s2, d.match(t, 0, c.authID, 1, c52))
			_, err = sign(t, s2, c52)
			require.NoError(t, err, "the new key signs")
		})
	}
}

// TestSameListKeepsKeys: the fingerprint TA re-sends its list at every
// start; an unchanged list must not invalidate anything.
func TestSameListKeepsKeys(t *testing.T) {
	d, s := registeredSession(t)
	got := deliver(t, s, d.fingerList(t, 0, 0xA1, 2, 1))
	assert.Zero(t, got.Invalidated)
	c := authorized(t, d, s)
	_, err := sign(t, s, c)
	require.NoError(t, err)
}

// TestWithheldFingerList: the REE drops the finger list of a new
// enrollment; the auth result's authenticator id or finger id still
// reveals the change and the key is invalidated.
func TestWithheldFingerList(t *testing.T) {
	for _, c := range []struct {
		name   string
		authID uint64
		fid    uint32
	}{
		{"new authenticator id", 0xA2, 1},
		{"finger not bound", 0xA1, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, s := registeredSession(t)
			c70 := begin(t, s, sceneRef)
			deliver(t, s, d.match(t, 0, c.authID, c.fid, c70))
			_, err := sign(t, s, c70)
			require.ErrorIs(t, err, payproto.ErrKeyInvalidated)
			_, err = payproto.BeginPayment{Ref: sceneRef}.Execute(testCtx(t), s)
			require.ErrorIs(t, err, payproto.ErrKeyInvalidated, "durably invalidated")
		})
	}
}

func TestCounterPersistsAcrossRestart(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	devCert := ta.DeviceCert()
	s := serve(t, ta)
	scene := registered(t, d, s)
	var last uint64
	for round := range 3 {
		op := authorized(t, d, s)
		signed, err := sign(t, s, op)
		require.NoError(t, err)
		st, err := proof.VerifyPayment(signed, scene, op, payload)
		require.NoError(t, err)
		assert.Greater(t, st.Counter, last, "round %d", round)
		last = st.Counter

		require.NoError(t, ta.Close())
		ta = d.open(t)
		assert.True(t, bytes.Equal(devCert, ta.DeviceCert()), "the device key survives restarts")
		s = serve(t, ta)
	}
}

func TestShortBufferConsumesNothing(t *testing.T) {
	d, s := registeredSession(t)
	c := authorized(t, d, s)
	ref, err := sceneRef.Marshal()
	require.NoError(t, err)
	p := tee.Params{tee.MemrefIn(ref), tee.Value(uint32(c), uint32(c>>32)), tee.MemrefIn(payload), tee.MemrefOut(16)}
	err = s.Invoke(testCtx(t), uint32(payproto.CmdSignPayment), &p)
	require.ErrorIs(t, err, tee.ErrShortBuffer)
	assert.Equal(t, uint32(payproto.OutputCapacity), p[3].Size)
	_, err = sign(t, s, c)
	require.NoError(t, err, "the auth result was not consumed")
}

func TestBadRequests(t *testing.T) {
	_, s := registeredSession(t)
	ctx := testCtx(t)
	_, err := payproto.SignPayment{Ref: payproto.KeyRef{AppID: testApp, Scene: "nope"}, Challenge: 1}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoKey)
	require.ErrorIs(t, err, tee.ErrItemNotFound)
	_, err = payproto.SignPayment{Ref: payproto.KeyRef{AppID: testApp}, Challenge: 1}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrBadParameters, "an app key does not sign payments")
	_, err = payproto.SignPayment{Ref: sceneRef, Challenge: 1, Payload: make([]byte, payproto.MaxPayload+1)}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrBadParameters)
	_, err = payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: "com.unknown", Scene: "x"}}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoKey)
	_, err = payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: testApp, Scene: "x"}, GroupID: 9}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoFingers)
	_, err = payproto.BeginPayment{Ref: payproto.KeyRef{AppID: testApp, Scene: "nope"}}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoKey)
	_, err = payproto.BeginPayment{Ref: payproto.KeyRef{AppID: testApp}}.Execute(ctx, s)
	require.ErrorIs(t, err, tee.ErrBadParameters, "an app key takes no payment")

	p := tee.Params{tee.MemrefIn([]byte{0, 1}), tee.MemrefOut(payproto.OutputCapacity)}
	require.ErrorIs(t, s.Invoke(ctx, uint32(payproto.CmdGetCert), &p), tee.ErrBadParameters, "malformed key reference")
	p = tee.Params{tee.MemrefOut(payproto.OutputCapacity)}
	require.ErrorIs(t, s.Invoke(ctx, uint32(payproto.CmdSignPayment), &p), tee.ErrBadParameters, "wrong parameter types")
	require.ErrorIs(t, s.Invoke(ctx, 0x77, &tee.Params{}), tee.ErrNotSupported)
}

func TestKeyLifecycle(t *testing.T) {
	_, s := registeredSession(t)
	ctx := testCtx(t)
	before, err := payproto.GetCert{Ref: sceneRef}.Execute(ctx, s)
	require.NoError(t, err)

	// Replacing the app key deletes its scene keys (they chain to it).
	_, err = payproto.CreateAppKey{AppID: testApp}.Execute(ctx, s)
	require.NoError(t, err)
	_, err = payproto.GetCert{Ref: sceneRef}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoKey)
	after, err := payproto.CreateSceneKey{Ref: sceneRef}.Execute(ctx, s)
	require.NoError(t, err)
	assert.NotEqual(t, before, after)

	require.NoError(t, payproto.DeleteKey{Ref: sceneRef}.Execute(ctx, s))
	require.ErrorIs(t, payproto.DeleteKey{Ref: sceneRef}.Execute(ctx, s), payproto.ErrNoKey)
	require.NoError(t, payproto.DeleteKey{Ref: payproto.KeyRef{AppID: testApp}}.Execute(ctx, s))
	_, err = payproto.GetCert{Ref: payproto.KeyRef{AppID: testApp}}.Execute(ctx, s)
	require.ErrorIs(t, err, payproto.ErrNoKey)
}

func TestAuthTokenKey(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	s := serve(t, ta)
	assert.False(t, ta.HasAuthTokenKey())
	env, err := d.KM.Seal(tee.UUIDPayment, envelope.MsgAuthTokenKey, randBytes(t, tokens.KeySize))
	require.NoError(t, err)
	require.NoError(t, payproto.SetAuthTokenKey{Envelope: env}.Execute(testCtx(t), s))
	assert.True(t, ta.HasAuthTokenKey())
	assert.Equal(t, tokens.HMACSHA256, ta.AuthTokenMAC().Algorithm(), "the zero Config is AOSP's HMAC-SHA256")
	require.ErrorIs(t, payproto.SetAuthTokenKey{Envelope: env}.Execute(testCtx(t), s), tee.ErrSecurity, "replay")
	short, err := d.KM.Seal(tee.UUIDPayment, envelope.MsgAuthTokenKey, []byte{1, 2, 3})
	require.NoError(t, err)
	require.ErrorIs(t, payproto.SetAuthTokenKey{Envelope: short}.Execute(testCtx(t), s), tee.ErrBadFormat)
}

// TestAuthTokenKeyAlgorithm: the relayed key is installed for the
// device's HAT MAC (Config.MACAlgorithm, the one Keymaster uses), so a HAT
// Keymaster MACs on an HMAC-SM3 device checks under it and one MACed with
// the other algorithm does not.
func TestAuthTokenKeyAlgorithm(t *testing.T) {
	for _, tc := range []struct{ alg, other tokens.MACAlgorithm }{
		{tokens.HMACSHA256, tokens.HMACSM3},
		{tokens.HMACSM3, tokens.HMACSHA256},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			d := newDevice(t)
			cfg := d.config()
			cfg.MACAlgorithm = tc.alg
			ta, err := NewTA(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = ta.Close() })
			key := randBytes(t, tokens.KeySize)
			env, err := d.KM.Seal(tee.UUIDPayment, envelope.MsgAuthTokenKey, key)
			require.NoError(t, err)
			require.NoError(t, payproto.SetAuthTokenKey{Envelope: env}.Execute(testCtx(t), serve(t, ta)))
			require.Equal(t, tc.alg, ta.AuthTokenMAC().Algorithm())

			kmMAC, err := tokens.NewMAC(tc.alg, key)
			require.NoError(t, err)
			wrong, err := tokens.NewMAC(tc.other, key)
			require.NoError(t, err)
			tok := tokens.Token{Challenge: 7, UserID: 1, AuthenticatorID: 2, AuthenticatorType: tokens.AuthFingerprint, Timestamp: 3}
			kmMAC.Sign(&tok)
			assert.NoError(t, ta.AuthTokenMAC().Check(&tok), "a HAT Keymaster MACed checks")
			wrong.Sign(&tok)
			assert.ErrorIs(t, ta.AuthTokenMAC().Check(&tok), tokens.ErrBadMAC, "the other algorithm does not")
		})
	}
}

func TestNewTARefuses(t *testing.T) {
	d := newDevice(t)
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"wrong self", func(c *Config) { c.Self = tee.UUIDGatekeeper }},
		{"nil clock", func(c *Config) { c.Clock = nil }},
		{"no store", func(c *Config) { c.DBPath = "" }},
		{"no boot id", func(c *Config) { c.BootID = nil }},
		{"negative ttl", func(c *Config) { c.AuthResultTTL = -1 }},
		{"unknown MAC algorithm", func(c *Config) { c.MACAlgorithm = tokens.HMACSM3 + 1 }},
		{"long boot id", func(c *Config) { c.BootID = make([]byte, 65) }},
		{"opener instead of keys", func(c *Config) {
			op, err := envelope.NewOpener(tee.UUIDPayment, c.Keys, envelope.NewMemoryGuard())
			require.NoError(t, err)
			c.Keys, c.Opener = nil, op
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := d.config()
			c.mod(&cfg)
			ta, err := NewTA(cfg)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorIs(t, err, tacore.ErrConfig)
			assert.Nil(t, ta)
		})
	}
}

// TestStaleMatchDoesNotKillNewKey: a match taken before a re-registration
// carries the old authenticator id; it must not sign, but it must not
// invalidate the fresh key either.
func TestStaleMatchDoesNotKillNewKey(t *testing.T) {
	d, s := registeredSession(t)
	c90 := authorized(t, d, s)
	d.Clock.Advance(time.Second)
	got := deliver(t, s, d.fingerList(t, 0, 0xA2, 1, 2, 3))
	require.Equal(t, 1, got.Invalidated)
	d.Clock.Advance(time.Second)
	_, err := payproto.CreateSceneKey{Ref: sceneRef, GroupID: 0}.Execute(testCtx(t), s)
	require.NoError(t, err)

	_, err = sign(t, s, c90)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "the match predates the key")
	c91 := begin(t, s, sceneRef)
	deliver(t, s, d.match(t, 0, 0xA2, 3, c91))
	_, err = sign(t, s, c91)
	require.NoError(t, err, "the new key is intact")
}
