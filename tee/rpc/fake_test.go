package rpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// Commands of the fake TA used by the tests and benchmarks.
const (
	cmdEcho        uint32 = 1  // p0 MEMREF_INOUT: returned as output
	cmdTransform   uint32 = 2  // p0 MEMREF_INPUT → p1 MEMREF_OUTPUT reversed; p2 VALUE_INPUT → p3 VALUE_OUTPUT {a+1, b+1}
	cmdProduce     uint32 = 3  // p0 VALUE_INPUT {n}; p1 MEMREF_OUTPUT gets n bytes
	cmdGate        uint32 = 4  // blocks until the TA's gate opens or ctx ends
	cmdPanic       uint32 = 5  // panics with a secret-looking value
	cmdDenied      uint32 = 6  // TEEC_ERROR_ACCESS_DENIED, origin unset
	cmdOpaque      uint32 = 7  // a plain Go error with a secret-looking text
	cmdChangeType  uint32 = 8  // changes p0's type
	cmdShortSelf   uint32 = 9  // p0 MEMREF_OUTPUT: TA reports short buffer itself, needing 99
	cmdValueAux    uint32 = 10 // sets p0 VALUE_OUTPUT {42, 7}, then fails TEEC_ERROR_BUSY (the host must send 0)
	cmdMarker      uint32 = 11 // creates the marker file, then sleeps p0 VALUE_INPUT {ms} or, without p0, blocks until ctx ends
	cmdSleep       uint32 = 12 // p0 VALUE_INPUT {ms}: sleeps ms, honouring ctx
	cmdEchoSet     uint32 = 13 // p0 MEMREF_INOUT: SetOutput of a copy (the TA path with an output copy)
	cmdOutputsThen uint32 = 14 // p0 VALUE_INOUT {a = result}, left untouched; fills every other output, then returns result
)

// Outputs cmdOutputsThen writes before it returns its result.
const (
	auxA, auxB     = 0xAA, 0xBB
	auxMemref      = "out!"
	auxShortNeeded = 99 // a memref's size needed when the result is TEEC_ERROR_SHORT_BUFFER
)

// openDenyMagic in an OPEN_SESSION VALUE_INPUT {a} makes the fake refuse;
// openSlowMagic makes it take b milliseconds.
const (
	openDenyMagic = 0xDEAD
	openSlowMagic = 0x510
)

// secret is a marker that must never reach a log line or an error text
// the client sees.
const secret = "S3CRET-PARAM"

type fakeTA struct {
	markerDir string

	opened, closed atomic.Int64
	running        atomic.Int64 // commands in flight
	maxRunning     atomic.Int64

	gateMu sync.Mutex
	gate   chan struct{}
}

func newFakeTA() *fakeTA { return &fakeTA{gate: make(chan struct{})} }

// BorrowsParams: the fake keeps no memref past a command (it clones what
// it outputs), so its hosts use pooled request arenas (ParamBorrower).
func (ta *fakeTA) BorrowsParams() bool { return true }

// openGate releases every cmdGate command, current and future.
func (ta *fakeTA) openGate() {
	ta.gateMu.Lock()
	defer ta.gateMu.Unlock()
	select {
	case <-ta.gate:
	default:
		close(ta.gate)
	}
}

// waitGated waits until a cmdGate command is in flight.
func (ta *fakeTA) waitGated(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return ta.running.Load() == 1 }, 5*time.Second, time.Millisecond, "a command in flight")
}

func (ta *fakeTA) gateChan() chan struct{} {
	ta.gateMu.Lock()
	defer ta.gateMu.Unlock()
	return ta.gate
}

func (ta *fakeTA) OpenSession(_ context.Context, p *tee.Params) (TASession, error) {
	if p[0].Type == tee.ParamValueInput && p[0].A == openDenyMagic {
		return nil, tee.Errorf(tee.ResultAccessDenied, tee.OriginTrustedApp, "denied")
	}
	if p[0].Type == tee.ParamValueInput && p[0].A == openSlowMagic {
		time.Sleep(time.Duration(p[0].B) * time.Millisecond)
	}
	if p[1].Type == tee.ParamValueOutput {
		p.SetValue(1, 0x5E55, 0)
	}
	ta.opened.Add(1)
	return &fakeSession{ta: ta}, nil
}

type fakeSession struct {
	ta     *fakeTA
	closed atomic.Bool
}

func (s *fakeSession) Close() {
	if s.closed.Swap(true) {
		panic("session closed twice")
	}
	s.ta.closed.Add(1)
}

func (s *fakeSession) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	n := s.ta.running.Add(1)
	defer s.ta.running.Add(-1)
	for {
		m := s.ta.maxRunning.Load()
		if n <= m || s.ta.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	switch cmd {
	case cmdEcho:
		return p.Expect(tee.ParamMemrefInout) // the host returns an untouched INOUT as received
	case cmdEchoSet:
		if err := p.Expect(tee.ParamMemrefInout); err != nil {
			return err
		}
		p.SetOutput(0, bytes.Clone(p[0].Data))
	case cmdTransform:
		if err := p.Expect(tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamValueInput, tee.ParamValueOutput); err != nil {
			return err
		}
		out := bytes.Clone(p[0].Data)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		p.SetOutput(1, out)
		p.SetValue(3, p[2].A+1, p[2].B+1)
	case cmdProduce:
		if err := p.Expect(tee.ParamValueInput, tee.ParamMemrefOutput); err != nil {
			return err
		}
		out := make([]byte, p[0].A)
		for i := range out {
			out[i] = byte(i)
		}
		p.SetOutput(1, out)
	case cmdGate:
		select {
		case <-s.ta.gateChan():
		case <-ctx.Done():
			return ctx.Err()
		}
	case cmdPanic:
		panic(secret)
	case cmdDenied:
		return &tee.Error{Code: tee.ResultAccessDenied, Detail: "policy"}
	case cmdOpaque:
		return errors.New("internal failure near " + secret)
	case cmdChangeType:
		p[0].Type = tee.ParamValueOutput
	case cmdShortSelf:
		p[0].Size = 99
		return tee.ErrShortBuffer
	case cmdValueAux:
		p.SetValue(0, 42, 7)
		return tee.Errorf(tee.ResultBusy, tee.OriginTrustedApp, "retry later")
	case cmdOutputsThen:
		if p[0].Type != tee.ParamValueInout {
			return tee.ErrBadParameters
		}
		res := tee.Result(p[0].A)
		for i := 1; i < len(p); i++ {
			switch t := p[i].Type; {
			case t.IsValue() && t.IsOutput():
				p.SetValue(i, auxA, auxB)
			case t.IsMemref() && t.IsOutput():
				p.SetOutput(i, []byte(auxMemref))
				if res == tee.ResultShortBuffer {
					p[i].Size = auxShortNeeded
				}
			}
		}
		if res == tee.Success {
			return nil
		}
		return tee.Errorf(res, tee.OriginTrustedApp, "result requested by the caller")
	case cmdMarker:
		if err := os.WriteFile(filepath.Join(s.ta.markerDir, "marker"), nil, 0o600); err != nil {
			return err
		}
		if p[0].Type == tee.ParamValueInput {
			time.Sleep(time.Duration(p[0].A) * time.Millisecond)
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	case cmdSleep:
		select {
		case <-time.After(time.Duration(p[0].A) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		return tee.ErrNotImplemented
	}
	return nil
}

// testUUID is the UUID the fake TA answers on.
var testUUID = tee.MustParseUUID("00112233-4455-6677-8899-aabbccddeeff")

// testServer is an in-process host serving a fakeTA on a temp socket.
type testServer struct {
	ta    *fakeTA
	srv   *Server
	path  string
	serve chan error // Serve's return value
}

func startServer(t *testing.T, log *zap.Logger, opts ...Option) *testServer {
	t.Helper()
	dir := testkit.ShortDir(t)
	ts := &testServer{ta: newFakeTA(), path: filepath.Join(dir, "ta.sock"), serve: make(chan error, 1)}
	ts.ta.markerDir = dir
	ts.srv = NewServer(testUUID, ts.ta, log, opts...)
	ln, err := net.Listen("unix", ts.path)
	require.NoError(t, err)
	go func() { ts.serve <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ts.ta.openGate()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ts.srv.Shutdown(ctx)
	})
	return ts
}

func (ts *testServer) dial(t *testing.T) *Client { t.Helper(); return dialAt(t, ts.path) }

func (ts *testServer) open(t *testing.T) (*Client, *Session) { t.Helper(); return openAt(t, ts.path) }

// dialAt dials the host listening at path (in this process or a child);
// the client is closed when the test ends.
func dialAt(t testing.TB, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// openAt dials the host at path and opens a session on the test TA.
func openAt(t testing.TB, path string) (*Client, *Session) {
	t.Helper()
	c := dialAt(t, path)
	s, err := c.OpenSession(testCtx(t), testUUID, nil)
	require.NoError(t, err)
	return c, s
}

// testCtx is a context that ends with the test or after 10 s, whichever
// is first, so that no test can hang.
func testCtx(t testing.TB) context.Context { return testkit.Context(t, 10*time.Second) }

// requireTargetDead requires err to be TEEC_ERROR_TARGET_DEAD from
// TEEC_ORIGIN_COMMS: the host is gone (or was never there).
func requireTargetDead(t *testing.T, err error) {
	t.Helper()
	te := teeErr(t, err)
	assert.Equal(t, tee.ResultTargetDead, te.Code)
	assert.Equal(t, tee.OriginComms, te.Origin)
}

// awaitTargetDead requires the pending call whose result done carries to
// fail with requireTargetDead within 5 s of its host going away, never
// hang.
func awaitTargetDead(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		requireTargetDead(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("pending call hangs after its host went away")
	}
}

// teeErr extracts the *tee.Error of err.
func teeErr(t *testing.T, err error) *tee.Error {
	t.Helper()
	var te *tee.Error
	require.ErrorAs(t, err, &te)
	return te
}
