package payment

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// FuzzParseKeyRecord: the decoder of sealed key rows never panics, returns
// nothing on error and re-encodes what it accepts.
func FuzzParseKeyRecord(f *testing.F) {
	r := sampleRecord(f)
	b, err := r.marshal()
	require.NoError(f, err)
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{recordVersion, 1, 0})
	f.Add(append([]byte{recordVersionNoOwner}, b[1:3]...)) // version 1: no owner
	f.Add(append(append([]byte{recordVersionNoOwner}, b[1:3]...), b[3+16:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseKeyRecord(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorruptRecord)
			require.Equal(t, keyRecord{}, got)
			return
		}
		out, err := got.marshal()
		require.NoError(t, err)
		if b[0] == recordVersionNoOwner {
			// Read as the nil owner, rewritten as version 2.
			again, err := parseKeyRecord(out)
			require.NoError(t, err)
			require.Equal(t, got, again)
			return
		}
		require.Equal(t, b, out)
	})
}

// ownerSession is a session of ta opened by ownerA, as the TA host opens
// one for a client with that identity.
func ownerSession(tb testing.TB, ta *TA) rpc.TASession {
	tb.Helper()
	s, err := ta.OpenSession(rpc.ContextWithClient(context.Background(), rpc.ClientIdentity{UUID: ownerA}), &tee.Params{})
	require.NoError(tb, err)
	return s
}

// FuzzDeliver feeds arbitrary bytes to DELIVER through the session (the
// TA's whole input path for envelopes): it must never panic, and every
// rejection must carry a specific TEEC code (BAD_FORMAT, ACCESS_DENIED,
// SECURITY, ...), never a generic failure.
func FuzzDeliver(f *testing.F) {
	d := newDevice(f)
	ta := d.open(f)
	s := ownerSession(f, ta)
	f.Add(d.match(f, 0, 1, 1, 5))
	f.Add(d.fingerList(f, 0, 1, 1, 2))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := tee.Params{tee.MemrefIn(b), tee.ValueOut()}
		err := s.Invoke(context.Background(), uint32(payproto.CmdDeliver), &p)
		if err == nil {
			return // a seed: genuine the first time
		}
		code := tee.ResultOf(err)
		require.NotEqual(t, tee.ResultGeneric, code, "%v", err)
	})
}

// FuzzSessionInvoke drives the payment TA's command dispatcher — every
// command's parameter decoding (types, key references, challenge values,
// payloads, output capacities) — with arbitrary command ids, parameter
// types, values and bytes on a device with registered keys and a held
// auth result. Every call must end with TEEC_SUCCESS or a TEEC result
// (never a panic), leave the parameter types alone (rpc.TASession
// contract), and leave the TA usable.
func FuzzSessionInvoke(f *testing.F) {
	d := newDevice(f)
	ta := d.open(f)
	s := ownerSession(f, ta)
	ctx := context.Background()
	deliverSeed := func(env []byte) {
		p := tee.Params{tee.MemrefIn(env), tee.ValueOut()}
		require.NoError(f, s.Invoke(ctx, uint32(payproto.CmdDeliver), &p))
	}
	deliverSeed(d.fingerList(f, 0, 0xA1, 1, 2))
	app, err := payproto.KeyRef{AppID: testApp}.Marshal()
	require.NoError(f, err)
	scene, err := sceneRef.Marshal()
	require.NoError(f, err)
	for _, c := range []struct {
		cmd payproto.Command
		ref []byte
	}{{payproto.CmdCreateAppKey, app}, {payproto.CmdCreateSceneKey, scene}} {
		p := tee.Params{tee.MemrefIn(c.ref), tee.MemrefOut(payproto.OutputCapacity)}
		if c.cmd == payproto.CmdCreateSceneKey {
			p = tee.Params{tee.MemrefIn(c.ref), tee.Value(0, 0), tee.MemrefOut(payproto.OutputCapacity)}
		}
		require.NoError(f, s.Invoke(ctx, uint32(c.cmd), &p))
	}
	op, err := ta.BeginPayment(ctx, ownerA, sceneRef)
	require.NoError(f, err)
	deliverSeed(d.match(f, 0, 0xA1, 1, op))

	// Seeds: types are indexes into kinds below; memrefs carry data,
	// outputs a capacity of b % (2 × OutputCapacity).
	const in, vin, out = 4, 1, 5
	f.Add(uint32(payproto.CmdSignPayment), []byte{in, vin, in, out}, uint32(op), uint32(op>>32), scene)
	f.Add(uint32(payproto.CmdCreateSceneKey), []byte{in, vin, out, 0}, uint32(0), uint32(payproto.OutputCapacity), scene)
	f.Add(uint32(payproto.CmdCreateAppKey), []byte{in, out, 0, 0}, uint32(0), uint32(payproto.OutputCapacity), app)
	f.Add(uint32(payproto.CmdGetCert), []byte{in, out, 0, 0}, uint32(0), uint32(payproto.OutputCapacity-1), scene)
	f.Add(uint32(payproto.CmdGetDeviceCert), []byte{out, 0, 0, 0}, uint32(0), uint32(payproto.OutputCapacity), []byte(nil))
	f.Add(uint32(payproto.CmdDeleteKey), []byte{in, 0, 0, 0}, uint32(0), uint32(0), app)
	f.Add(uint32(payproto.CmdBeginPayment), []byte{in, 2, 0, 0}, uint32(0), uint32(0), scene)
	f.Add(uint32(payproto.CmdDeliver), []byte{in, 2, 0, 0}, uint32(0), uint32(0), d.fingerList(f, 0, 0xA2, 1))
	f.Add(uint32(payproto.CmdSetAuthTokenKey), []byte{in, 0, 0, 0}, uint32(0), uint32(0), []byte{1, 2, 3})
	f.Add(uint32(0xFFFF), []byte{0, 0, 0, 0}, uint32(0), uint32(0), []byte(nil))
	f.Fuzz(func(t *testing.T, cmd uint32, types []byte, a, b uint32, data []byte) {
		p := tatest.FuzzParams(types, a, b, data, b%(2*payproto.OutputCapacity))
		_ = tatest.InvokeHostile(t, s, cmd, &p, 5*time.Second)
		q := tee.Params{tee.MemrefOut(payproto.OutputCapacity)}
		require.NoError(t, s.Invoke(ctx, uint32(payproto.CmdGetDeviceCert), &q), "the TA stays usable")
	})
}

// FuzzParseChanKey: the decoder of sealed channel-key rows never panics,
// returns nothing on error (ErrCorruptRecord) and re-encodes what it
// accepts byte for byte.
func FuzzParseChanKey(f *testing.F) {
	for _, k := range []chanKey{
		{priv: bytes.Repeat([]byte{7}, 32)},
		{priv: bytes.Repeat([]byte{7}, 32), cert: []byte{0x30, 0x82, 1, 2}},
	} {
		b := k.marshal()
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseChanKey(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorruptRecord)
			require.Equal(t, chanKey{}, k)
			return
		}
		require.Equal(t, b, k.marshal())
	})
}

// FuzzCheckAnchors: the TA-side check of trust anchors (wire form, CA
// roots, RSA-2048) never panics and every refusal wraps
// payproto.ErrAnchors.
func FuzzCheckAnchors(f *testing.F) {
	for _, a := range []payproto.TrustAnchors{
		{ServerName: "pay.fpemu.test", Roots: [][]byte{{0x30, 1}}},
		{RSAServer: []byte{0x30, 0x82}},
	} {
		b, err := a.Marshal()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckAnchors(b); err != nil {
			require.ErrorIs(t, err, payproto.ErrAnchors)
		}
	})
}
