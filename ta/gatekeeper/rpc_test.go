package gatekeeper_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/gatekeeper"
	"github.com/fpemu/fpemu/ta/gatekeeper/gatekeepertest"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

// served is a Gatekeeper TA behind a real tee/rpc host on a Unix socket in
// this process, with Keymaster's side of the envelope route.
type served struct {
	ta      *gatekeeper.TA
	session *rpc.Session
	km      *envelope.Sealer
	hatKey  []byte
	clock   *tee.FakeClock
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func random(t testing.TB, n int) []byte { return tatest.Rand(t, n) }

func serve(t *testing.T) *served {
	t.Helper()
	keys := tatest.Keyring(t)
	s := &served{hatKey: random(t, tokens.KeySize), clock: tee.NewFakeClock(5000)}
	var err error
	s.km, err = envelope.NewSealer(tee.UUIDKeymaster, keys.For(tee.UUIDKeymaster), nil)
	require.NoError(t, err)
	s.ta, err = gatekeeper.NewTA(gatekeeper.Config{Config: tacore.Config{
		Self:       tee.UUIDGatekeeper,
		StorageKey: random(t, 32),
		DBPath:     filepath.Join(t.TempDir(), "gatekeeper.db"),
		Keys:       keys.For(tee.UUIDGatekeeper),
		BootID:     random(t, 16),
		Clock:      s.clock,
	}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.ta.Close()) }) // after the server's shutdown
	s.session = tatest.ServeUnix(t, tee.UUIDGatekeeper, s.ta)
	return s
}

func (s *served) keyEnvelope(t testing.TB) []byte {
	env, err := s.km.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, s.hatKey)
	require.NoError(t, err)
	return env
}

func (s *served) provision(t *testing.T) {
	require.NoError(t, gkproto.SetAuthTokenKey{Envelope: s.keyEnvelope(t)}.Execute(testCtx(t), s.session))
}

func (s *served) mac(t testing.TB) *tokens.MAC {
	m, err := tokens.NewMAC(tokens.HMACSHA256, s.hatKey)
	require.NoError(t, err)
	return m
}

// TestVTS runs the ported Gatekeeper VTS over tee/rpc on a real Unix socket.
func TestVTS(t *testing.T) {
	s := serve(t)
	s.provision(t)
	gatekeepertest.Run(t, gatekeepertest.Target{Invoker: s.session, MAC: s.mac(t)})
}

func TestVerifyWithoutKeyOverRPC(t *testing.T) {
	s := serve(t)
	ctx := testCtx(t)
	e, err := gkproto.Enroll{DesiredPassword: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, e.Status)
	_, err = gkproto.Verify{Handle: e.Handle, Password: []byte("pw")}.Execute(ctx, s.session)
	require.ErrorIs(t, err, tee.ErrBadState)

	s.provision(t)
	v, err := gkproto.Verify{Challenge: 99, Handle: e.Handle, Password: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, v.Status)
	_, err = tokens.NewVerifier(s.mac(t)).WithChallenge(99).WithAuthenticatorTypes(tokens.AuthPassword).
		WithSecureIDs(e.SecureUserID).WithFreshness(s.clock.NowMs(), time.Second).Verify(v.Token.Marshal())
	require.NoError(t, err)
}

func TestSetAuthTokenKeyOverRPC(t *testing.T) {
	s := serve(t)
	ctx := testCtx(t)
	env := s.keyEnvelope(t)
	bad := bytes.Clone(env)
	bad[len(bad)-1] ^= 1
	require.ErrorIs(t, gkproto.SetAuthTokenKey{Envelope: bad}.Execute(ctx, s.session), tee.ErrSecurity)
	require.ErrorIs(t, gkproto.SetAuthTokenKey{Envelope: env[:5]}.Execute(ctx, s.session), tee.ErrBadFormat)
	toFP, err := s.km.Seal(tee.UUIDFingerprint, envelope.MsgAuthTokenKey, s.hatKey)
	require.NoError(t, err)
	require.ErrorIs(t, gkproto.SetAuthTokenKey{Envelope: toFP}.Execute(ctx, s.session), tee.ErrAccessDenied)
	require.NoError(t, gkproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, s.session))
	require.ErrorIs(t, gkproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, s.session), tee.ErrSecurity, "replay")
}

// TestRetryTimeoutOverRPC: the status and the remaining time cross the wire.
func TestRetryTimeoutOverRPC(t *testing.T) {
	s := serve(t)
	s.provision(t)
	ctx := testCtx(t)
	e, err := gkproto.Enroll{UID: 5, DesiredPassword: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	var v gkproto.VerifyResponse
	for range 5 {
		s.clock.Advance(time.Millisecond)
		v, err = gkproto.Verify{UID: 5, Handle: e.Handle, Password: []byte("no")}.Execute(ctx, s.session)
		require.NoError(t, err)
	}
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000}, v)
	s.clock.Advance(12345 * time.Millisecond)
	v, err = gkproto.Verify{UID: 5, Handle: e.Handle, Password: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	assert.Equal(t, gkproto.VerifyResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000 - 12345}, v)
	var re *gkproto.RetryError
	require.True(t, errors.As(v.Status.Err(v.RetryTimeoutMs), &re))
	assert.Equal(t, 17655*time.Millisecond, re.Timeout)

	// Trusted re-enroll is throttled the same way.
	r, err := gkproto.Enroll{UID: 5, CurrentHandle: e.Handle, CurrentPassword: []byte("pw"), DesiredPassword: []byte("n")}.Execute(ctx, s.session)
	require.NoError(t, err)
	assert.Equal(t, gkproto.EnrollResponse{Status: gkproto.ErrorRetryTimeout, RetryTimeoutMs: 30000 - 12345}, r)
}

// TestProtocolErrors sends raw params: the TEEC layer rejects what is not a
// Gatekeeper command before any state changes.
func TestProtocolErrors(t *testing.T) {
	s := serve(t)
	s.provision(t)
	ctx := testCtx(t)
	e, err := gkproto.Enroll{UID: 1, DesiredPassword: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	goodVerify := gkproto.VerifyPayload{Handle: e.Handle, Password: []byte("pw")}.Marshal()

	tests := []struct {
		name string
		cmd  gkproto.Command
		p    tee.Params
		want error
	}{
		{"unknown command", 0x77, tee.Params{}, tee.ErrNotSupported},
		{"enroll without params", gkproto.CmdEnroll, tee.Params{}, tee.ErrBadParameters},
		{"enroll value as input only", gkproto.CmdEnroll, tee.Params{tee.Value(1, 0), tee.MemrefIn(nil), tee.MemrefOut(58), tee.ValueOut()}, tee.ErrBadParameters},
		{"enroll malformed payload", gkproto.CmdEnroll, tee.Params{tee.ValueInout(1, 0), tee.MemrefIn([]byte{9, 0, 0, 0}), tee.MemrefOut(58), tee.ValueOut()}, tee.ErrBadFormat},
		{"enroll handle buffer too small", gkproto.CmdEnroll, tee.Params{tee.ValueInout(1, 0), tee.MemrefIn(gkproto.EnrollPayload{DesiredPassword: []byte("x")}.Marshal()), tee.MemrefOut(57), tee.ValueOut()}, tee.ErrShortBuffer},
		{"verify trailing byte", gkproto.CmdVerify, tee.Params{tee.ValueInout(1, 0), tee.ValueInout(0, 0), tee.MemrefIn(append(bytes.Clone(goodVerify), 0)), tee.MemrefOut(69)}, tee.ErrBadFormat},
		{"verify token buffer too small", gkproto.CmdVerify, tee.Params{tee.ValueInout(1, 0), tee.ValueInout(0, 0), tee.MemrefIn(goodVerify), tee.MemrefOut(68)}, tee.ErrShortBuffer},
		{"set key as value", gkproto.CmdSetAuthTokenKey, tee.Params{tee.Value(1, 2)}, tee.ErrBadParameters},
		{"delete user without uid", gkproto.CmdDeleteUser, tee.Params{tee.ValueOut()}, tee.ErrBadParameters},
		{"delete all with extra param", gkproto.CmdDeleteAllUsers, tee.Params{tee.ValueOut(), tee.Value(0, 0)}, tee.ErrBadParameters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			err := s.session.Invoke(ctx, uint32(tc.cmd), &p)
			require.ErrorIs(t, err, tc.want)
			var te *tee.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tee.OriginTrustedApp, te.Origin)
			switch {
			case tc.cmd == gkproto.CmdEnroll && errors.Is(err, tee.ErrShortBuffer):
				assert.Equal(t, uint32(gkproto.HandleSize), p[2].Size, "size needed")
			case tc.cmd == gkproto.CmdVerify && errors.Is(err, tee.ErrShortBuffer):
				assert.Equal(t, uint32(tokens.Size), p[3].Size, "size needed")
			}
		})
	}
	// Nothing above was an attempt or a change: the handle still verifies
	// and no failure was counted.
	v, err := gkproto.Verify{UID: 1, Handle: e.Handle, Password: []byte("pw")}.Execute(ctx, s.session)
	require.NoError(t, err)
	assert.Equal(t, gkproto.StatusOK, v.Status)
}

func TestClientRejectsLongPasswordLocally(t *testing.T) {
	inv := invokerFunc(func(context.Context, uint32, *tee.Params) error {
		t.Fatal("request sent")
		return nil
	})
	long := make([]byte, gkproto.MaxPasswordSize+1)
	_, err := gkproto.Enroll{DesiredPassword: long}.Execute(context.Background(), inv)
	require.ErrorIs(t, err, gkproto.ErrPasswordTooLong)
	_, err = gkproto.Enroll{CurrentPassword: long, DesiredPassword: []byte("x")}.Execute(context.Background(), inv)
	require.ErrorIs(t, err, gkproto.ErrPasswordTooLong)
	_, err = gkproto.Verify{Handle: make([]byte, 58), Password: long}.Execute(context.Background(), inv)
	require.ErrorIs(t, err, gkproto.ErrPasswordTooLong)
}

type invokerFunc func(ctx context.Context, cmd uint32, p *tee.Params) error

func (f invokerFunc) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return f(ctx, cmd, p)
}

// TestClientRejectsBadResponses: a TA (or a man in the middle of the REE)
// answering TEEC_SUCCESS with inconsistent outputs gets ErrResponse, not a
// half-filled result.
func TestClientRejectsBadResponses(t *testing.T) {
	h := (&gkproto.PasswordHandle{Version: 2, UserID: 42, Flags: 1}).Marshal()
	tok := tokens.Token{UserID: 42, AuthenticatorType: tokens.AuthPassword}.Marshal()
	enrollCases := map[string]func(p *tee.Params){
		"ok without handle":      func(p *tee.Params) { p.SetValue(3, 42, 0) },
		"ok with short handle":   func(p *tee.Params) { p.SetOutput(2, h[:57]); p.SetValue(3, 42, 0) },
		"sid differs":            func(p *tee.Params) { p.SetOutput(2, h); p.SetValue(3, 43, 0) },
		"failure with handle":    func(p *tee.Params) { p.SetValue(0, uint32(0xFFFFFFFF), 0); p.SetOutput(2, h) },
		"failure with sid":       func(p *tee.Params) { p.SetValue(0, uint32(0xFFFFFFFF), 0); p.SetValue(3, 1, 0) },
		"ok with bad handle ver": func(p *tee.Params) { b := bytes.Clone(h); b[0] = 3; p.SetOutput(2, b); p.SetValue(3, 42, 0) },
	}
	for name, fill := range enrollCases {
		t.Run("enroll/"+name, func(t *testing.T) {
			inv := invokerFunc(func(_ context.Context, _ uint32, p *tee.Params) error { fill(p); return nil })
			rsp, err := gkproto.Enroll{DesiredPassword: []byte("x")}.Execute(context.Background(), inv)
			require.ErrorIs(t, err, gkproto.ErrResponse)
			assert.Zero(t, rsp)
		})
	}
	verifyCases := map[string]func(p *tee.Params){
		"ok without token":    func(p *tee.Params) {},
		"ok with short token": func(p *tee.Params) { p.SetOutput(3, tok[:68]) },
		"failure with token":  func(p *tee.Params) { p.SetValue(0, uint32(0xFFFFFFFE), 30000); p.SetOutput(3, tok) },
		"bad reenroll flag":   func(p *tee.Params) { p.SetValue(1, 2, 0); p.SetOutput(3, tok) },
	}
	for name, fill := range verifyCases {
		t.Run("verify/"+name, func(t *testing.T) {
			inv := invokerFunc(func(_ context.Context, _ uint32, p *tee.Params) error { fill(p); return nil })
			rsp, err := gkproto.Verify{Handle: h, Password: []byte("x")}.Execute(context.Background(), inv)
			require.ErrorIs(t, err, gkproto.ErrResponse)
			assert.Zero(t, rsp)
		})
	}
}
