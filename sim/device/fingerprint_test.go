package device

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fingerprinttest"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tokens"
)

// fpEvents pumps NEXT_EVENT on s until stop is true for an event.
func fpEvents(t *testing.T, s *Session, stop func(fpproto.Event) bool) []fpproto.Event {
	t.Helper()
	var out []fpproto.Event
	for range 100 {
		e, _, err := fpproto.NextEvent{Wait: 10 * time.Second}.Execute(testCtx(t), s)
		require.NoError(t, err)
		require.NotEqual(t, fpproto.MsgNone, e.Type, "no event within 10 s after %v", out)
		out = append(out, e)
		if stop(e) {
			return out
		}
	}
	t.Fatalf("no terminal event in %v", out)
	return nil
}

// TestFingerprintHATUnlocksKeymasterKey runs Keymaster, Gatekeeper and the
// fingerprint TA as processes: a password HAT from Gatekeeper (challenge =
// the fingerprint TA's PRE_ENROLL challenge) enrolls a synthetic finger
// presented through the sensor-control socket; authenticating it with
// operation_id = a Keymaster operation handle yields a FINGERPRINT HAT that
// finishes that operation on a per-operation key bound to USER_SECURE_ID =
// authenticator_id and USER_AUTH_TYPE = FINGERPRINT. The auth-token key
// reached both TAs only through the launcher's envelope relay, and the bio
// auth result for the payment TA carries the same transaction.
func TestFingerprintHATUnlocksKeymasterKey(t *testing.T) {
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}
	})
	ctx := testCtx(t)
	gk := session(t, d, tee.RoleGatekeeper)
	km := session(t, d, tee.RoleKeymaster)
	fp := session(t, d, tee.RoleFingerprint)
	ev := session(t, d, tee.RoleFingerprint)
	sen, err := d.OpenSensor(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { sen.Close() })

	const uid, gid = 0, 0
	password := []byte("1234")
	handle, sid := enroll(t, gk, uid, password)
	st, err := fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)

	// Enroll: PRE_ENROLL → Gatekeeper VERIFY(challenge) → ENROLL(HAT).
	challenge, err := fpproto.PreEnroll{}.Execute(ctx, fp)
	require.NoError(t, err)
	vr := verify(t, gk, uid, challenge, handle, password)
	require.Equal(t, gkproto.StatusOK, vr.Status)
	f := finger.New(0xF1A6E5)
	require.NoError(t, sen.EnrollTouches(ctx, f, fpproto.DefaultEnrollSamples))
	st, err = fpproto.Enroll{HAT: vr.Token.Marshal(), GID: gid, TimeoutSec: 60}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs := fpEvents(t, ev, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError || (e.Type == fpproto.MsgTemplateEnrolling && e.Remaining == 0)
	})
	last := evs[len(evs)-1]
	require.Equal(t, fpproto.MsgTemplateEnrolling, last.Type, "%v", evs)
	fid := last.FingerID
	_, err = fpproto.PostEnroll{}.Execute(ctx, fp)
	require.NoError(t, err)
	authID, err := fpproto.GetAuthenticatorID{}.Execute(ctx, fp)
	require.NoError(t, err)
	require.NotZero(t, authID)

	// A per-operation key bound to the fingerprint set.
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveP256, tokens.AuthFingerprint, nil, authID)}.Execute(ctx, km)
	require.NoError(t, err)
	op, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
	require.NoError(t, err)

	// Authenticate with operation_id = the operation handle.
	p := finger.Nominal
	p.DX, p.DY, p.Noise = 6, -4, 99
	require.NoError(t, sen.Touch(ctx, f, p))
	st, err = fpproto.Authenticate{OperationID: op, GID: gid}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs = fpEvents(t, ev, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError || (e.Type == fpproto.MsgAuthenticated && e.FingerID != 0)
	})
	last = evs[len(evs)-1]
	require.Equal(t, fpproto.MsgAuthenticated, last.Type, "%v", evs)
	assert.Equal(t, fid, last.FingerID)
	tok, err := tokens.Parse(last.HAT)
	require.NoError(t, err)
	assert.Equal(t, op, tok.Challenge)
	assert.Equal(t, sid, tok.UserID)
	assert.Equal(t, authID, tok.AuthenticatorID)
	assert.Equal(t, tokens.AuthFingerprint, tok.AuthenticatorType)

	msg := []byte("pay 12.34 CNY to merchant 42")
	sig, err := kmproto.Finish{Handle: op, Input: msg, HAT: last.HAT}.Execute(ctx, km)
	require.NoError(t, err, "Keymaster accepts the fingerprint HAT")
	require.NoError(t, kmproto.VerifySignature(kmproto.CurveP256, k.PublicKey, msg, sig))

	// The same HAT does not finish another operation (challenge = handle).
	op2, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
	require.NoError(t, err)
	_, err = kmproto.Finish{Handle: op2, Input: msg, HAT: last.HAT}.Execute(ctx, km)
	assert.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)

	// The payment TA's view: finger lists and the auth result of op.
	envs, _, err := fpproto.FetchOutbox{}.Execute(ctx, fp)
	require.NoError(t, err)
	payment := opener(t, d, tee.RolePayment)
	var result *bio.AuthResult
	for _, e := range envs {
		m, err := payment.Open(e)
		require.NoError(t, err)
		if m.Type == envelope.MsgBioAuthResult {
			r, err := bio.ParseAuthResult(m.Payload)
			require.NoError(t, err)
			result = &r
		}
	}
	require.NotNil(t, result, "auth result in the outbox")
	assert.True(t, result.Success())
	assert.Equal(t, op, result.TransactionID)
	assert.Equal(t, fid, result.FingerID)
	assert.Equal(t, sid, result.UserID)
	assert.Equal(t, authID, result.AuthenticatorID)

	// The sensor socket goes with the device.
	require.NoError(t, shutdown(t, d))
	_, err = os.Stat(d.SensorSocketPath())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestFingerprintVTSAcrossProcesses runs the fingerprint VTS port against
// the fingerprint TA process, its key relayed from the Keymaster process.
func TestFingerprintVTSAcrossProcesses(t *testing.T) {
	d := bootDevice(t, func(c *Config) { c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleFingerprint} })
	fingerprinttest.Run(t, fingerprinttest.Target{
		Commands: session(t, d, tee.RoleFingerprint),
		Events:   session(t, d, tee.RoleFingerprint),
		StoreDir: t.TempDir(),
	})
}
