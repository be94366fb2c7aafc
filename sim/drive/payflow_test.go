package drive_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TestPayThroughTA: over the fingerprint TA's CA commands (the test plays
// the HAL), a finger enrolled with a PIN's HAT and a registered scene key
// pay: Pay with RelayOutbox signs a statement that verifies for the
// finger, the challenge and the order; the same challenge signs no second
// time; and a payment whose auth result nobody relays is ErrNotRelayed,
// which is the TA's NOT_AUTHORIZED.
func TestPayThroughTA(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	st := upTAs(t, ctx, tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment)
	session := func(r tee.Role, opts ...rpc.SessionOption) rpc.Invoker {
		s, err := st.Session(ctx, r, opts...)
		require.NoError(t, err)
		return s
	}
	fp := drive.TA{Cmd: session(tee.RoleFingerprint), Events: session(tee.RoleFingerprint)}
	outbox, pay := session(tee.RoleFingerprint), session(tee.RolePayment, rpc.AsUser())
	sen, err := st.Sensor(ctx)
	require.NoError(t, err)

	pin, err := drive.EnrollPIN(ctx, session(tee.RoleGatekeeper), 0, []byte("1357"))
	require.NoError(t, err)
	require.NoError(t, fp.SetActiveGroup(ctx, 0, t.TempDir()))
	c, err := fp.PreEnroll(ctx)
	require.NoError(t, err)
	hat, err := pin.HAT(ctx, c)
	require.NoError(t, err)
	f := finger.New(0x9A7)
	enrolled, err := drive.Enroll(ctx, fp, sen, f, hat.Marshal(), 0, nil)
	require.NoError(t, err)
	require.NoError(t, fp.PostEnroll(ctx))
	relay := drive.RelayOutbox(outbox, pay)
	require.NoError(t, relay(ctx), "the finger list")

	ref := payproto.KeyRef{AppID: "com.example.drive", Scene: "pay"}
	reg, err := drive.RegisterScene(ctx, pay, ref, 0, nil)
	require.NoError(t, err)
	app := drive.App{Session: pay, Ref: ref, Scene: reg.SceneCert}

	order := []byte("order 1: 1.00 CNY")
	paid, err := app.Pay(ctx, fp, sen, drive.Payment{Finger: f, Payload: order, Relay: relay})
	require.NoError(t, err)
	assert.Equal(t, enrolled.FingerID, paid.Auth.Event.FingerID)
	assert.Equal(t, paid.Challenge, paid.Statement.Challenge)
	assert.Equal(t, enrolled.FingerID, paid.Statement.FingerID)
	_, err = app.Sign(ctx, paid.Challenge, order)
	assert.ErrorIs(t, err, payproto.ErrNotAuthorized, "one match, one signature")

	_, err = app.Pay(ctx, fp, sen, drive.Payment{Finger: f, Payload: []byte("order 2")})
	assert.ErrorIs(t, err, drive.ErrNotRelayed)
	assert.ErrorIs(t, err, payproto.ErrNotAuthorized)
}
