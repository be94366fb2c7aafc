package fingerprint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tokens"
)

// TestParameterTypes: every command checks its parameter types exactly
// (TEEC_ERROR_BAD_PARAMETERS, nothing done); an unknown command is
// TEEC_ERROR_NOT_SUPPORTED (docs/protocol.md §1.7).
func TestParameterTypes(t *testing.T) {
	b := newDevice(t).ready(t)
	for _, cmd := range []fpproto.Command{fpproto.CmdPreEnroll, fpproto.CmdEnroll, fpproto.CmdPostEnroll, fpproto.CmdGetAuthenticatorID, fpproto.CmdCancel,
		fpproto.CmdEnumerate, fpproto.CmdRemove, fpproto.CmdSetActiveGroup, fpproto.CmdAuthenticate, fpproto.CmdNextEvent, fpproto.CmdResetLockout,
		fpproto.CmdFetchOutbox, fpproto.CmdSetAuthTokenKey} {
		p := tee.Params{tee.MemrefOut(8), tee.Value(1, 2), tee.Value(3, 4), tee.ValueOut()}
		err := b.cmd.Invoke(ctx(t), uint32(cmd), &p)
		assert.ErrorIs(t, err, tee.ErrBadParameters, "command 0x%x", cmd)
	}
	err := b.cmd.Invoke(ctx(t), 0x77, &tee.Params{})
	assert.ErrorIs(t, err, tee.ErrNotSupported)
	b.quiet(t)
}

// TestNextEvent: a poll or a bounded wait without events answers NONE; a
// HAT buffer below 69 bytes is TEEC_ERROR_SHORT_BUFFER and the event stays
// queued; p0.b counts what is still queued.
func TestNextEvent(t *testing.T) {
	b := newDevice(t).ready(t)
	start := time.Now()
	e, n, err := fpproto.NextEvent{Wait: 50 * time.Millisecond}.Execute(ctx(t), b.ev)
	require.NoError(t, err)
	assert.Equal(t, fpproto.Event{Type: fpproto.MsgNone}, e)
	assert.Zero(t, n)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waited")

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	p := tee.Params{tee.ValueInout(0, 0), tee.ValueOut(), tee.ValueOut(), tee.MemrefOut(tokens.Size - 1)}
	err = b.ev.Invoke(ctx(t), uint32(fpproto.CmdNextEvent), &p)
	require.ErrorIs(t, err, tee.ErrShortBuffer)
	assert.Equal(t, uint32(tokens.Size), p[3].Size)
	e, n, err = fpproto.NextEvent{}.Execute(ctx(t), b.ev)
	require.NoError(t, err)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), e)
	assert.Equal(t, uint32(1), n)
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), b.next(t))
}

// TestNextEventWakesOnEvent: a pump blocked in NEXT_EVENT on one session
// returns as soon as CANCEL on another session queues an event.
func TestNextEventWakesOnEvent(t *testing.T) {
	b := newDevice(t).ready(t)
	got := make(chan fpproto.Event, 1)
	go func() {
		e, _, _ := fpproto.NextEvent{Wait: 20 * time.Second}.Execute(ctx(t), b.ev)
		got <- e
	}()
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	select {
	case e := <-got:
		assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), e)
	case <-time.After(10 * time.Second):
		t.Fatal("NEXT_EVENT did not wake up")
	}
}

// TestSetAuthTokenKeyRejections: only Keymaster's fresh envelope for this
// TA is accepted (docs/protocol.md §3.3 mapping); the replay mark survives
// a TA restart.
func TestSetAuthTokenKeyRejections(t *testing.T) {
	d := newDevice(t)
	b := d.serve(t, d.open(t))
	env := d.keyEnvelope(t)
	forGK, err := d.KM.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, d.hatKey)
	require.NoError(t, err)
	forged := append([]byte(nil), d.keyEnvelope(t)...)
	forged[len(forged)-1] ^= 1

	set := func(env []byte) error { return fpproto.SetAuthTokenKey{Envelope: env}.Execute(ctx(t), b.cmd) }
	assert.ErrorIs(t, set(env[:50]), tee.ErrBadFormat)
	assert.ErrorIs(t, set(forGK), tee.ErrAccessDenied)
	assert.ErrorIs(t, set(forged), tee.ErrSecurity)
	assert.False(t, b.ta.HasAuthTokenKey())
	require.NoError(t, set(env))
	assert.True(t, b.ta.HasAuthTokenKey())
	assert.ErrorIs(t, set(env), tee.ErrSecurity, "replay")
	short, err := d.KM.Seal(tee.UUIDFingerprint, envelope.MsgAuthTokenKey, d.hatKey[:16])
	require.NoError(t, err)
	assert.ErrorIs(t, set(short), tee.ErrBadFormat, "authentic, but not a 32-byte key")

	b.ta.Close()
	b = d.serve(t, d.open(t))
	assert.ErrorIs(t, set2(t, b, env), tee.ErrSecurity, "replay after a restart (mark persisted)")
	require.NoError(t, set2(t, b, d.keyEnvelope(t)))
}

func set2(t *testing.T, b *bench, env []byte) error {
	return fpproto.SetAuthTokenKey{Envelope: env}.Execute(ctx(t), b.cmd)
}

// TestAuthTokenKeyReplaced: a later envelope replaces the key; HATs are
// then minted under the new one.
func TestAuthTokenKeyReplaced(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	f := testFinger(70)
	b.enroll(t, 1, 2, f)
	d.hatKey = randBytes(t, tokens.KeySize)
	var err error
	d.mac, err = tokens.NewMAC(tokens.HMACSHA256, d.hatKey)
	require.NoError(t, err)
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	evs := b.authenticate(t, 5, 1, probe(f, 1))
	_, err = tokens.NewVerifier(d.mac).WithChallenge(5).Verify(evs[len(evs)-1].HAT)
	assert.NoError(t, err)
}

// TestSensorScript: scripted acquisition messages and faults reach the HAL
// as AOSP events; a fault ends the operation with its error (vendor codes
// as ERROR_VENDOR + code); a sticky fault fails every capture until
// cleared; latency delays a capture.
func TestSensorScript(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	f := testFinger(80)
	b.enroll(t, 1, 2, f)
	c := b.sensor

	for _, info := range []fpproto.AcquiredInfo{fpproto.AcquiredPartial, fpproto.AcquiredInsufficient, fpproto.AcquiredImagerDirty, fpproto.AcquiredTooSlow, fpproto.AcquiredTooFast} {
		require.NoError(t, c.Acquired(ctx(t), int32(info), 0))
	}
	require.NoError(t, c.Acquired(ctx(t), int32(fpproto.AcquiredVendor), 1234))
	require.NoError(t, c.Fault(ctx(t), int32(fpproto.ErrorVendor), 42))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
	evs := b.until(t, authEnd)
	assert.Equal(t, []fpproto.Event{
		fpproto.AcquiredEvent(fpproto.AcquiredPartial, 0), fpproto.AcquiredEvent(fpproto.AcquiredInsufficient, 0), fpproto.AcquiredEvent(fpproto.AcquiredImagerDirty, 0),
		fpproto.AcquiredEvent(fpproto.AcquiredTooSlow, 0), fpproto.AcquiredEvent(fpproto.AcquiredTooFast, 0), fpproto.AcquiredEvent(fpproto.AcquiredVendor, 1234),
		fpproto.ErrorEvent(fpproto.ErrorVendor, 42, uint32(fpproto.ReasonSensor)),
	}, evs)

	require.NoError(t, c.Fault(ctx(t), int32(fpproto.ErrorHWUnavailable), 0))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorHWUnavailable, 0, uint32(fpproto.ReasonSensor)), b.next(t))

	require.NoError(t, c.NoFinger(ctx(t)))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorTimeout, 0, uint32(fpproto.ReasonSensor)), b.next(t))

	require.NoError(t, c.SetFault(ctx(t), int32(fpproto.ErrorHWUnavailable), 0))
	b.present(t, probe(f, 1))
	for range 2 {
		require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
		assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorHWUnavailable, 0, uint32(fpproto.ReasonSensor)), b.next(t))
	}
	st, err := c.Status(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, int32(fpproto.ErrorHWUnavailable), st.FaultError)
	assert.Equal(t, 1, st.Queued, "the sample waits behind the fault")
	require.NoError(t, c.ClearFault(ctx(t)))

	require.NoError(t, c.SetLatency(ctx(t), 60*time.Millisecond))
	start := time.Now()
	evs = b.authenticate(t, 1, 1)
	assert.Equal(t, fpproto.MsgAuthenticated, evs[len(evs)-1].Type)
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)

	// Codes a sensor cannot produce are refused and nothing is queued.
	assert.ErrorIs(t, c.Fault(ctx(t), int32(fpproto.ErrorLockout), 0), tee.ErrBadParameters)
	assert.ErrorIs(t, c.Acquired(ctx(t), 7, 0), tee.ErrBadParameters)
	assert.ErrorIs(t, c.PresentRaw(ctx(t), []byte("FPSA")), tee.ErrBadFormat)
	require.NoError(t, c.Reset(ctx(t)))
	st, err = c.Status(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, sensorproto.RemoteStatus{Captures: st.Captures}, st)
}
