package attack

import (
	"context"
	"encoding/binary"
	"errors"
	mrand "math/rand/v2"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
	"github.com/fpemu/fpemu/tokens"
)

// seed is one well-formed command of a TA, as its Go client sends it.
type seed struct {
	cmd    uint32
	params tee.Params
}

// recorder is an rpc.Invoker that records the command instead of sending
// it: the client request types then produce exactly the parameter shapes
// the TA expects.
type recorder struct{ seeds []seed }

var errRecorded = errors.New("recorded")

func (r *recorder) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	r.seeds = append(r.seeds, seed{cmd: cmd, params: *p})
	return errRecorded
}

// seedsFor returns a well-formed command of every kind the TA behind role
// (or, for "", the sensor-control endpoint) accepts, filled with plausible
// but random data.
func seedsFor(role tee.Role, rng *mrand.Rand) []seed {
	ctx := context.Background()
	rec := &recorder{}
	bytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	hat := bytes(tokens.Size)
	env := bytes(109)
	switch role {
	case tee.RoleKeymaster:
		_, _ = kmproto.GenerateKey{Params: kmproto.Params{
			kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveP256),
			kmproto.PurposeParam(kmproto.PurposeSign), kmproto.DigestParam(kmproto.DigestSHA256),
			kmproto.NoAuthRequiredParam(),
		}}.Execute(ctx, rec)
		_, _ = kmproto.Begin{Blob: bytes(150), Purpose: kmproto.PurposeSign, HAT: hat}.Execute(ctx, rec)
		_ = kmproto.Update{Handle: rng.Uint64(), Input: bytes(16), HAT: hat}.Execute(ctx, rec)
		_, _ = kmproto.Finish{Handle: rng.Uint64(), Input: bytes(16), HAT: hat}.Execute(ctx, rec)
		_ = kmproto.Abort{Handle: rng.Uint64()}.Execute(ctx, rec)
		_, _ = kmproto.GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(ctx, rec)
	case tee.RoleGatekeeper:
		_, _ = gkproto.Enroll{UID: rng.Uint32(), DesiredPassword: bytes(4)}.Execute(ctx, rec)
		_, _ = gkproto.Verify{UID: rng.Uint32(), Challenge: rng.Uint64(), Handle: bytes(gkproto.HandleSize), Password: bytes(4)}.Execute(ctx, rec)
		_, _ = gkproto.DeleteUser{UID: rng.Uint32()}.Execute(ctx, rec)
		_ = gkproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, rec)
	case tee.RoleFingerprint:
		_, _ = fpproto.PreEnroll{}.Execute(ctx, rec)
		_, _ = fpproto.Enroll{HAT: hat, GID: rng.Uint32N(4), TimeoutSec: 1}.Execute(ctx, rec)
		_, _ = fpproto.PostEnroll{}.Execute(ctx, rec)
		_, _ = fpproto.GetAuthenticatorID{}.Execute(ctx, rec)
		_, _ = fpproto.Cancel{}.Execute(ctx, rec)
		_, _ = fpproto.Enumerate{}.Execute(ctx, rec)
		_, _ = fpproto.Remove{GID: rng.Uint32N(4), FID: rng.Uint32()}.Execute(ctx, rec)
		_, _ = fpproto.SetActiveGroup{GID: rng.Uint32N(4), Path: "/nonexistent/fpemu"}.Execute(ctx, rec)
		_, _ = fpproto.Authenticate{OperationID: rng.Uint64(), GID: rng.Uint32N(4)}.Execute(ctx, rec)
		_, _, _ = fpproto.NextEvent{Wait: 0}.Execute(ctx, rec)
		_, _ = fpproto.ResetLockout{GID: rng.Uint32N(4), HAT: hat}.Execute(ctx, rec)
		_, _, _ = fpproto.FetchOutbox{}.Execute(ctx, rec)
		_ = fpproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, rec)
	case tee.RolePayment:
		ref := payproto.KeyRef{AppID: "fuzz.app", Scene: "s"}
		_, _ = payproto.Deliver{Envelope: env}.Execute(ctx, rec)
		_, _ = payproto.GetDeviceCert{}.Execute(ctx, rec)
		_, _ = payproto.CreateAppKey{AppID: ref.AppID}.Execute(ctx, rec)
		_, _ = payproto.CreateSceneKey{Ref: ref, GroupID: 0}.Execute(ctx, rec)
		_, _ = payproto.GetCert{Ref: ref}.Execute(ctx, rec)
		_, _ = payproto.BeginPayment{Ref: ref}.Execute(ctx, rec)
		_, _ = payproto.SignPayment{Ref: ref, Challenge: rng.Uint64(), Payload: bytes(12)}.Execute(ctx, rec)
		_ = payproto.DeleteKey{Ref: ref}.Execute(ctx, rec)
		_ = payproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, rec)
	default:
		c := sensorproto.Client{Invoker: rec}
		_ = c.PresentRaw(ctx, bytes(10+8*int(rng.IntN(12))))
		_ = c.Acquired(ctx, int32(rng.IntN(7)), 0)
		_ = c.NoFinger(ctx)
		_ = c.Fault(ctx, 2, 0)
		_ = c.SetFault(ctx, 0, 0)
		_ = c.SetLatency(ctx, time.Millisecond)
		_ = c.Reset(ctx)
		_, _ = c.Status(ctx)
	}
	return rec.seeds
}

// Byte values that break parsers more often than random ones.
var interesting = []byte{0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF}

// Parameter type bytes the protocol forbids (docs/protocol.md §1.5).
var badTypes = []byte{0x04, 0x08, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x80, 0xFF}

// fuzzFrame is one frame to send, and what the host must do with it.
type fuzzFrame struct {
	b []byte
	// closes: the length prefix is out of range (§1.3): the host must
	// drop the connection without a response.
	closes bool
	// partial: only a prefix of a frame is sent, then the connection is
	// closed by the sender.
	partial bool
	kind    string
}

// mutator turns seed commands into fuzzed frames for one connection.
type mutator struct {
	rng   *mrand.Rand
	uuid  tee.UUID
	seeds []seed
	reqID uint32
}

func (m *mutator) nextID() uint32 { m.reqID++; return m.reqID }

// valid encodes a well-formed request: mostly an INVOKE of a seed on
// session, sometimes an OPEN_SESSION or CLOSE_SESSION.
func (m *mutator) valid(session uint32) []byte {
	f := wire.Frame{RequestID: m.nextID()}
	switch n := m.rng.IntN(20); {
	case n == 0:
		f.Op, f.UUID = wire.OpOpenSession, m.uuid
	case n == 1:
		f.Op, f.Session = wire.OpCloseSession, session+uint32(m.rng.IntN(2))
	default:
		s := m.seeds[m.rng.IntN(len(m.seeds))]
		f.Op, f.Session, f.Command, f.Params = wire.OpInvoke, session, s.cmd, s.params
	}
	b, err := wire.AppendFrame(nil, &f)
	if err != nil {
		// Seeds come from the clients, which encode them; should one not,
		// send a CLOSE_SESSION instead.
		f = wire.Frame{Op: wire.OpCloseSession, RequestID: f.RequestID, Session: session}
		b, _ = wire.AppendFrame(nil, &f)
	}
	return b
}

// setLen rewrites the length prefix of b to match len(b).
func setLen(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-wire.LengthLen))
	return b
}

// next returns the next fuzzed frame for a connection holding session.
func (m *mutator) next(session uint32) fuzzFrame {
	b := m.valid(session)
	r := m.rng
	switch n := r.IntN(100); {
	case n < 30: // a few random byte changes after the length prefix
		for range 1 + r.IntN(4) {
			i := wire.LengthLen + r.IntN(len(b)-wire.LengthLen)
			if r.IntN(2) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] ^= byte(1 + r.IntN(255))
			}
		}
		return fuzzFrame{b: b, kind: "mutated"}
	case n < 42: // a forbidden parameter type
		if b[5] == byte(wire.OpInvoke) || b[5] == byte(wire.OpOpenSession) {
			off := 20
			if b[5] == byte(wire.OpOpenSession) {
				off = 32
			}
			b[off+r.IntN(4)] = badTypes[r.IntN(len(badTypes))]
		}
		return fuzzFrame{b: b, kind: "bad param type"}
	case n < 54: // truncated inside a consistent length
		cut := wire.HeaderLen + r.IntN(max(1, len(b)-wire.HeaderLen))
		return fuzzFrame{b: setLen(b[:cut]), kind: "truncated fields"}
	case n < 62: // trailing garbage inside a consistent length
		for range 1 + r.IntN(16) {
			b = append(b, byte(r.Uint32()))
		}
		return fuzzFrame{b: setLen(b), kind: "trailing bytes"}
	case n < 70: // a 4-byte size or value field set to an extreme
		if len(b) >= wire.HeaderLen+4 {
			i := wire.HeaderLen + r.IntN(len(b)-wire.HeaderLen-3)
			v := []uint32{0, 0xFFFFFFFF, 0x7FFFFFFF, wire.MaxFrameLen, wire.MaxFrameLen + 1}[r.IntN(5)]
			binary.BigEndian.PutUint32(b[i:], v)
		}
		return fuzzFrame{b: b, kind: "extreme field"}
	case n < 76: // header fields: version, op, reserved
		b[4+r.IntN(4)] = byte(r.Uint32())
		return fuzzFrame{b: b, kind: "header"}
	case n < 82: // random body after a valid header
		body := make([]byte, r.IntN(64))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		return fuzzFrame{b: setLen(append(b[:wire.HeaderLen], body...)), kind: "random body"}
	case n < 88: // length prefix out of range: the host must hang up
		var l uint32
		switch r.IntN(3) {
		case 0:
			l = uint32(r.IntN(wire.MinFrameLen))
		case 1:
			l = wire.MaxFrameLen + 1 + uint32(r.IntN(1<<20))
		default:
			l = 0xFFFFFFFF
		}
		binary.BigEndian.PutUint32(b, l)
		return fuzzFrame{b: b[:min(len(b), wire.HeaderLen)], closes: true, kind: "bad length"}
	case n < 94: // a frame cut short on the wire, then the sender hangs up
		return fuzzFrame{b: b[:1+r.IntN(len(b)-1)], partial: true, kind: "cut on the wire"}
	case n < 95: // the largest legal frame, with a 1 MiB memref
		f := wire.Frame{Op: wire.OpInvoke, RequestID: m.nextID(), Session: session, Command: m.seeds[r.IntN(len(m.seeds))].cmd}
		f.Params[r.IntN(4)] = tee.MemrefIn(make([]byte, wire.MaxFrameLen-wire.HeaderLen-4-8-4))
		if big, err := wire.AppendFrame(nil, &f); err == nil {
			return fuzzFrame{b: big, kind: "maximum size"}
		}
	}
	return fuzzFrame{b: b, kind: "well-formed"}
}
