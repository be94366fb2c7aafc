package rpc

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// kmUserNotAuthenticated is a TA-defined result (Keymaster's
// KEY_USER_NOT_AUTHENTICATED, docs/protocol.md §2.2): outputs follow the
// same rule for codes outside GP's range.
const kmUserNotAuthenticated tee.Result = 0x4B4D001A

// outputCase is one row of TestFailureOutputsZeroed: the result the fake TA
// returns (the response's result, unless the central short-buffer rule
// turns a success into TEEC_ERROR_SHORT_BUFFER) and the parameters sent.
type outputCase struct {
	name   string
	result tee.Result // what the TA returns
	want   tee.Result // what the client sees
	params func(res tee.Result) tee.Params
}

func outputCases() []outputCase {
	// p0 is the VALUE_INOUT that carries the result and that the TA leaves
	// untouched: before issue 8 it came back with a failure as the input.
	all := func(res tee.Result) tee.Params {
		return tee.Params{tee.ValueInout(uint32(res), 0x1234), tee.ValueOut(), tee.MemrefOut(16), tee.MemrefInout([]byte("in"), 16)}
	}
	inouts := func(res tee.Result) tee.Params {
		return tee.Params{tee.ValueInout(uint32(res), 7), tee.ValueInout(5, 6), tee.MemrefInout(nil, 8), tee.MemrefIn([]byte("x"))}
	}
	tight := func(res tee.Result) tee.Params { // MEMREF_OUTPUT too small for "out!"
		return tee.Params{tee.ValueInout(uint32(res), 9), tee.ValueOut(), tee.MemrefOut(2), tee.Value(1, 2)}
	}
	var cases []outputCase
	for _, shape := range []struct {
		name string
		p    func(tee.Result) tee.Params
	}{{"value/out/memref-out/memref-inout", all}, {"value-inouts/memref-inout/in", inouts}} {
		for _, r := range []tee.Result{tee.Success, tee.ResultGeneric, tee.ResultAccessDenied, tee.ResultBadState,
			tee.ResultBusy, tee.ResultSecurity, tee.ResultShortBuffer, kmUserNotAuthenticated} {
			cases = append(cases, outputCase{name: shape.name + "/" + r.String(), result: r, want: r, params: shape.p})
		}
	}
	return append(cases, outputCase{name: "central short buffer", result: tee.Success, want: tee.ResultShortBuffer, params: tight})
}

// TestFailureOutputsZeroed: with any result but TEEC_SUCCESS, every output
// and inout value is 0 and every output and inout memref carries no bytes
// — on the wire and in the client's parameters — except that under
// TEEC_ERROR_SHORT_BUFFER each memref's size is the size needed
// (docs/protocol.md §1.5). The TA runs in another process.
func TestFailureOutputsZeroed(t *testing.T) {
	ch := startChild(t)
	r := dialRaw(t, ch.taPath())
	sid := r.open(1)
	cl, err := Dial(testCtx(t), ch.taPath())
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	s, err := cl.OpenSession(testCtx(t), testUUID, nil)
	require.NoError(t, err)

	for i, c := range outputCases() {
		t.Run(c.name, func(t *testing.T) {
			sent := c.params(c.result)

			// The frame a client written from the spec alone receives.
			r.send(&wire.Frame{Op: wire.OpInvoke, RequestID: uint32(100 + i), Session: sid, Command: cmdOutputsThen, Params: sent})
			f := r.recv()
			require.Equal(t, c.want, f.Result)
			require.Equal(t, sent.Types(), f.Params.Types())
			for j := range sent {
				checkWireOutput(t, j, sent[j], f.Params[j], c.want)
			}

			// The Go client's view of the same call.
			p := c.params(c.result)
			err := s.Invoke(testCtx(t), cmdOutputsThen, &p)
			if c.want == tee.Success {
				require.NoError(t, err)
			} else {
				require.Equal(t, c.want, tee.ResultOf(err), "%v", err)
				require.Equal(t, tee.OriginTrustedApp, teeErr(t, err).Origin)
			}
			for j := range sent {
				checkClientOutput(t, j, sent[j], p[j], c.want)
			}
		})
	}
}

// checkWireOutput checks parameter j of a response frame against §1.5.
func checkWireOutput(t *testing.T, j int, sent, got tee.Param, res tee.Result) {
	t.Helper()
	st := sent.Type
	switch {
	case !st.IsOutput():
		assert.Equal(t, tee.Param{Type: st}, got, "p%d: an input carries nothing back", j)
	case st.IsValue() && res != tee.Success:
		assert.Equal(t, [2]uint32{0, 0}, [2]uint32{got.A, got.B}, "p%d: value zeroed on failure", j)
	case st.IsValue() && j == 0:
		assert.Equal(t, [2]uint32{sent.A, sent.B}, [2]uint32{got.A, got.B}, "p0: an untouched INOUT returns its input on success")
	case st.IsValue():
		assert.Equal(t, [2]uint32{auxA, auxB}, [2]uint32{got.A, got.B}, "p%d: the TA's value on success", j)
	case res == tee.Success:
		assert.Equal(t, auxMemref, string(got.Data), "p%d", j)
	case res == tee.ResultShortBuffer:
		assert.Empty(t, got.Data, "p%d: no bytes with a short buffer", j)
		assert.Contains(t, []uint32{uint32(len(auxMemref)), auxShortNeeded}, got.Size, "p%d: the size needed", j)
	default:
		assert.Empty(t, got.Data, "p%d: no bytes on failure", j)
		assert.Zero(t, got.Size, "p%d: size 0 on failure", j)
	}
}

// checkClientOutput checks the caller's parameter j after Invoke.
func checkClientOutput(t *testing.T, j int, sent, got tee.Param, res tee.Result) {
	t.Helper()
	st := sent.Type
	switch {
	case !st.IsOutput():
		assert.Equal(t, sent, got, "p%d: inputs untouched", j)
	case st.IsValue() && res != tee.Success:
		assert.Equal(t, [2]uint32{0, 0}, [2]uint32{got.A, got.B}, "p%d: value zeroed on failure", j)
	case st.IsValue() && j == 0:
		assert.Equal(t, [2]uint32{sent.A, sent.B}, [2]uint32{got.A, got.B})
	case st.IsValue():
		assert.Equal(t, [2]uint32{auxA, auxB}, [2]uint32{got.A, got.B}, "p%d", j)
	case res == tee.Success:
		assert.Equal(t, auxMemref, string(got.Data), "p%d", j)
		assert.Equal(t, uint32(len(auxMemref)), got.Size, "p%d", j)
	case res == tee.ResultShortBuffer:
		assert.Nil(t, got.Data, "p%d: nothing copied with a short buffer", j)
		assert.Greater(t, got.Size, sent.Size, "p%d: Size is the size needed", j)
	default:
		assert.Nil(t, got.Data, "p%d: no bytes on failure", j)
		assert.Equal(t, sent.Size, got.Size, "p%d: Size keeps the capacity offered", j)
	}
}

// TestApplyResponseRejectsOutputsOnFailure: a host that sends a non-zero
// value, or a memref size outside the short-buffer rule, with a failure
// result breaks §1.5; the call fails TEEC_ERROR_BAD_FORMAT from COMMS and
// the caller's parameters are untouched.
func TestApplyResponseRejectsOutputsOnFailure(t *testing.T) {
	sent := tee.Params{tee.ValueInout(1, 2), tee.ValueOut(), tee.MemrefOut(8), tee.MemrefInout([]byte("in"), 8)}
	resp := func(res tee.Result, edit func(p *tee.Params)) *wire.Frame {
		f := &wire.Frame{Op: wire.OpResponse, Result: res, Origin: tee.OriginTrustedApp, Session: 1}
		for i := range sent {
			f.Params[i].Type = sent[i].Type
		}
		edit(&f.Params)
		return f
	}
	cases := []struct {
		name string
		resp *wire.Frame
		ok   bool // the response obeys §1.5
	}{
		{"zeroed failure", resp(tee.ResultGeneric, func(*tee.Params) {}), true},
		{"short buffer sizes", resp(tee.ResultShortBuffer, func(p *tee.Params) { p[2].Size, p[3].Size = 40, 9 }), true},
		{"inout value echoed on failure", resp(tee.ResultBadState, func(p *tee.Params) { p[0].A, p[0].B = 1, 2 }), false},
		{"output value on failure", resp(kmUserNotAuthenticated, func(p *tee.Params) { p[1].B = 1 }), false},
		{"value on short buffer", resp(tee.ResultShortBuffer, func(p *tee.Params) { p[1].A = 3 }), false},
		{"memref size on failure", resp(tee.ResultAccessDenied, func(p *tee.Params) { p[2].Size = 4 }), false},
		{"inout memref size on failure", resp(tee.ResultGeneric, func(p *tee.Params) { p[3].Size = 2 }), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := sent
			err := applyResponse(&p, &sent, c.resp)
			require.Error(t, err)
			if c.ok {
				require.Equal(t, c.resp.Result, tee.ResultOf(err))
				assert.Zero(t, p[0].A)
				assert.Nil(t, p[3].Data)
				return
			}
			require.ErrorIs(t, err, ErrProtocol)
			require.Equal(t, tee.ResultBadFormat, tee.ResultOf(err))
			require.Equal(t, tee.OriginComms, teeErr(t, err).Origin)
			require.Equal(t, sent, p, "params untouched")
		})
	}
}

// TestClientZeroesOutputsOfForeignHost: the client applies §1.5 itself, so a
// foreign host speaking it exactly (values 0 on the wire) yields zeroed
// outputs in the caller's view, whatever the caller put in them.
func TestClientZeroesOutputsOfForeignHost(t *testing.T) {
	cliEnd, hostEnd := net.Pipe()
	cl := NewClient(cliEnd)
	t.Cleanup(func() { cl.Close() })
	go func() {
		defer hostEnd.Close()
		b, err := newFrameReader(hostEnd).next()
		if err != nil {
			return
		}
		req, err := wire.DecodeFrame(b)
		if err != nil {
			return
		}
		out := wire.Frame{Op: wire.OpResponse, RequestID: req.RequestID, Result: tee.ResultSecurity, Origin: tee.OriginTrustedApp, Session: 5}
		for i := range req.Params {
			out.Params[i].Type = req.Params[i].Type
		}
		b, _ = wire.AppendFrame(nil, &out)
		_, _ = hostEnd.Write(b)
	}()
	s := &Session{c: cl, id: 5, sem: make(chan struct{}, 1)}
	p := tee.Params{tee.ValueInout(11, 12), {Type: tee.ParamValueOutput, A: 13, B: 14}, tee.MemrefInout([]byte("in"), 4)}
	err := s.Invoke(testCtx(t), cmdOutputsThen, &p)
	require.ErrorIs(t, err, tee.ErrSecurity)
	assert.Equal(t, [4]uint32{0, 0, 0, 0}, [4]uint32{p[0].A, p[0].B, p[1].A, p[1].B})
	assert.Nil(t, p[2].Data)
	assert.Equal(t, uint32(4), p[2].Size)
}
