package rpc

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// rawConn speaks frames by hand, the way a foreign (C) client or an
// attacker would, to test what the host does with them.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *frameReader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawConn{t: t, nc: nc, fr: newFrameReader(nc)}
}

func (r *rawConn) sendBytes(b []byte) {
	r.t.Helper()
	_, err := r.nc.Write(b)
	require.NoError(r.t, err)
}

func (r *rawConn) send(f *wire.Frame) {
	r.t.Helper()
	b, err := wire.AppendFrame(nil, f)
	require.NoError(r.t, err)
	r.sendBytes(b)
}

func (r *rawConn) recv() wire.Frame {
	r.t.Helper()
	b, err := r.fr.next()
	require.NoError(r.t, err)
	f, err := wire.DecodeFrame(b)
	require.NoError(r.t, err)
	require.Equal(r.t, wire.OpResponse, f.Op)
	return f
}

func (r *rawConn) open(id uint32) uint32 {
	r.t.Helper()
	r.send(&wire.Frame{Op: wire.OpOpenSession, RequestID: id, UUID: testUUID})
	f := r.recv()
	require.Equal(r.t, id, f.RequestID)
	require.Equal(r.t, tee.Success, f.Result)
	return f.Session
}

func frameWith(t *testing.T, f *wire.Frame, off int, v ...byte) []byte {
	b, err := wire.AppendFrame(nil, f)
	require.NoError(t, err)
	copy(b[off:], v)
	return b
}

// TestBadFormatAnswered: a malformed but delimitable frame is answered
// TEEC_ERROR_BAD_FORMAT (origin TEE) with its request id, and the
// connection stays usable (docs/protocol.md §1.8).
func TestBadFormatAnswered(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.path)
	sid := r.open(1)

	inv := &wire.Frame{Op: wire.OpInvoke, RequestID: 77, Session: sid, Command: cmdEcho,
		Params: tee.Params{tee.MemrefInout([]byte("abc"), 3)}}
	trailing, err := wire.AppendFrame(nil, inv)
	require.NoError(t, err)
	trailing = append(trailing, 0)
	binary.BigEndian.PutUint32(trailing, uint32(len(trailing)-4))

	cases := []struct {
		name string
		b    []byte
	}{
		{"bad version", frameWith(t, inv, 4, 1)},
		{"unknown op", frameWith(t, inv, 5, 0x42)},
		{"reserved set", frameWith(t, inv, 6, 0, 1)},
		{"unknown param type", frameWith(t, inv, 20, 0x04)},
		{"registered memref type", frameWith(t, inv, 20, 0x0D)},
		{"inout longer than capacity", frameWith(t, inv, 24, 0, 0, 0, 1)},
		{"trailing byte", trailing},
		{"response op from client", frameWith(t, &wire.Frame{Op: wire.OpResponse, RequestID: 77, Origin: tee.OriginTEE}, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.sendBytes(c.b)
			f := r.recv()
			require.Equal(t, uint32(77), f.RequestID)
			require.Equal(t, tee.ResultBadFormat, f.Result)
			require.Equal(t, tee.OriginTEE, f.Origin)
			require.Equal(t, uint32(0), f.Session)
			require.Equal(t, [4]tee.ParamType{}, f.Params.Types())
		})
	}

	// Still usable, and the session survived.
	r.send(inv)
	f := r.recv()
	require.Equal(t, tee.Success, f.Result)
	require.Equal(t, []byte("abc"), f.Params[0].Data)
}

// TestUnframeableClosesConnection: with a length prefix out of range the
// host cannot find the next frame and closes the connection without an
// answer (docs/protocol.md §1.8); it keeps serving others.
func TestUnframeableClosesConnection(t *testing.T) {
	ts := startServer(t, nil)
	for _, prefix := range [][]byte{{0xFF, 0xFF, 0xFF, 0xFF}, {0, 0x10, 0, 1}, {0, 0, 0, 7}, {0, 0, 0, 0}} {
		r := dialRaw(t, ts.path)
		r.open(1)
		r.sendBytes(prefix)
		_, err := io.ReadAll(r.nc)
		require.NoError(t, err, "EOF, not a timeout")
	}
	require.Eventually(t, func() bool { return ts.ta.closed.Load() == 4 }, 5*time.Second, time.Millisecond)
	r := dialRaw(t, ts.path)
	r.open(1)
}

// TestHostSessionRules: unknown sessions, a busy session, close while busy,
// wrong UUID and login, all answered by the host (origin TEE) without
// reaching the TA.
func TestHostSessionRules(t *testing.T) {
	ts := startServer(t, nil)
	r := dialRaw(t, ts.path)

	r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: 1, Session: 99, Command: cmdEcho})
	f := r.recv()
	require.Equal(t, tee.ResultBadParameters, f.Result)
	require.Equal(t, tee.OriginTEE, f.Origin)
	require.Equal(t, uint32(99), f.Session)

	r.send(&wire.Frame{Op: wire.OpCloseSession, RequestID: 2, Session: 99})
	require.Equal(t, tee.ResultBadParameters, r.recv().Result)

	r.send(&wire.Frame{Op: wire.OpOpenSession, RequestID: 3, UUID: testUUID, Login: 4})
	f = r.recv()
	require.Equal(t, tee.ResultNotSupported, f.Result)
	require.Equal(t, tee.OriginTEE, f.Origin)

	r.send(&wire.Frame{Op: wire.OpOpenSession, RequestID: 4, UUID: tee.UUIDGatekeeper})
	f = r.recv()
	require.Equal(t, tee.ResultItemNotFound, f.Result)
	require.Equal(t, uint32(0), f.Session)

	// Pipelining on one session: the second command is refused as busy.
	sid := r.open(5)
	r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: 6, Session: sid, Command: cmdGate})
	ts.ta.waitGated(t)
	r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: 7, Session: sid, Command: cmdEcho})
	f = r.recv()
	require.Equal(t, uint32(7), f.RequestID)
	require.Equal(t, tee.ResultBusy, f.Result)
	require.Equal(t, tee.OriginTEE, f.Origin)
	r.send(&wire.Frame{Op: wire.OpCloseSession, RequestID: 8, Session: sid})
	f = r.recv()
	require.Equal(t, uint32(8), f.RequestID)
	require.Equal(t, tee.ResultBusy, f.Result)

	// Other sessions proceed while sid is busy; responses come out of order.
	sid2 := r.open(9)
	r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: 10, Session: sid2, Command: cmdEcho,
		Params: tee.Params{tee.MemrefInout([]byte("x"), 1)}})
	f = r.recv()
	require.Equal(t, uint32(10), f.RequestID)
	require.Equal(t, tee.Success, f.Result)

	ts.ta.openGate()
	f = r.recv()
	require.Equal(t, uint32(6), f.RequestID)
	require.Equal(t, tee.Success, f.Result)

	r.send(&wire.Frame{Op: wire.OpCloseSession, RequestID: 11, Session: sid})
	f = r.recv()
	require.Equal(t, tee.Success, f.Result)
	require.Equal(t, tee.OriginTEE, f.Origin)
	r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: 12, Session: sid, Command: cmdEcho})
	require.Equal(t, tee.ResultBadParameters, r.recv().Result, "closed session is unknown")
}

// TestClientRejectsBadResponses: a host that breaks the protocol makes the
// client drop the connection and fail the call as TARGET_DEAD, and a
// response whose parameters do not match fails that call as BAD_FORMAT.
func TestClientRejectsBadResponses(t *testing.T) {
	cases := []struct {
		name    string
		respond func(req wire.Frame) []byte
		code    tee.Result
	}{
		{"garbage", func(wire.Frame) []byte { return []byte{0, 0, 0, 8, 9, 9, 9, 9, 0, 0, 0, 1} }, tee.ResultTargetDead},
		{"unknown request id", func(req wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID + 1000, Origin: tee.OriginTEE})
			return b
		}, tee.ResultTargetDead},
		{"request op", func(req wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpCloseSession, RequestID: req.RequestID})
			return b
		}, tee.ResultTargetDead},
		{"oversized length", func(wire.Frame) []byte { return []byte{0xFF, 0, 0, 0} }, tee.ResultTargetDead},
		{"types differ", func(req wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID, Origin: tee.OriginTrustedApp, Session: 5,
				Params: tee.Params{tee.ValueOut()}})
			return b
		}, tee.ResultBadFormat},
		{"output above capacity", func(req wire.Frame) []byte {
			b, _ := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID, Origin: tee.OriginTrustedApp, Session: 5,
				Params: tee.Params{{Type: tee.ParamMemrefInout, Data: []byte("0123456789")}}})
			return b
		}, tee.ResultBadFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cliEnd, hostEnd := net.Pipe()
			cl := NewClient(cliEnd)
			t.Cleanup(func() { cl.Close() })
			go func() {
				defer hostEnd.Close()
				fr := newFrameReader(hostEnd)
				b, err := fr.next()
				if err != nil {
					return
				}
				req, _ := wire.DecodeFrame(b)
				hostEnd.Write(c.respond(req))
				io.Copy(io.Discard, hostEnd)
			}()
			s := &Session{c: cl, id: 5, sem: make(chan struct{}, 1)}
			p := tee.Params{tee.MemrefInout([]byte("in"), 4)}
			err := s.Invoke(testCtx(t), cmdEcho, &p)
			require.Equal(t, c.code, tee.ResultOf(err), "%v", err)
			require.Equal(t, tee.OriginComms, teeErr(t, err).Origin)
			require.ErrorIs(t, err, ErrProtocol)
			require.Equal(t, []byte("in"), p[0].Data, "params untouched")
			require.True(t, bytes.Equal(p[0].Data, []byte("in")))
		})
	}
}
