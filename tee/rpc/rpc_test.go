package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

func TestRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	ctx := testCtx(t)

	p := tee.Params{tee.MemrefInout([]byte("ping"), 16)}
	require.NoError(t, s.Invoke(ctx, cmdEcho, &p))
	assert.Equal(t, []byte("ping"), p[0].Data)
	assert.Equal(t, uint32(4), p[0].Size)

	p = tee.Params{tee.MemrefIn([]byte("abc")), tee.MemrefOut(8), tee.Value(1, 2), tee.ValueOut()}
	require.NoError(t, s.Invoke(ctx, cmdTransform, &p))
	assert.Equal(t, []byte("cba"), p[1].Data)
	assert.Equal(t, uint32(3), p[1].Size)
	assert.Equal(t, [2]uint32{2, 3}, [2]uint32{p[3].A, p[3].B})
	assert.Equal(t, []byte("abc"), p[0].Data, "inputs untouched")

	// An empty output and an exact-capacity output are both fine.
	p = tee.Params{tee.Value(0, 0), tee.MemrefOut(0)}
	require.NoError(t, s.Invoke(ctx, cmdProduce, &p))
	assert.Empty(t, p[1].Data)
	p = tee.Params{tee.Value(5, 0), tee.MemrefOut(5)}
	require.NoError(t, s.Invoke(ctx, cmdProduce, &p))
	assert.Equal(t, []byte{0, 1, 2, 3, 4}, p[1].Data)

	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "closing twice is a no-op")
	err := s.Invoke(ctx, cmdEcho, &p)
	require.ErrorIs(t, err, ErrSessionClosed)
	require.Equal(t, tee.ResultBadState, tee.ResultOf(err))
	require.Eventually(t, func() bool { return ts.ta.closed.Load() == 1 }, 5*time.Second, time.Millisecond)
}

func TestOpenSession(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	ctx := testCtx(t)

	_, err := c.OpenSession(ctx, tee.UUIDKeymaster, nil)
	te := teeErr(t, err)
	assert.Equal(t, tee.ResultItemNotFound, te.Code)
	assert.Equal(t, tee.OriginTEE, te.Origin)

	p := tee.Params{tee.Value(openDenyMagic, 0)}
	_, err = c.OpenSession(ctx, testUUID, &p)
	te = teeErr(t, err)
	assert.Equal(t, tee.ResultAccessDenied, te.Code)
	assert.Equal(t, tee.OriginTrustedApp, te.Origin)

	p = tee.Params{{}, tee.ValueOut()}
	s, err := c.OpenSession(ctx, testUUID, &p)
	require.NoError(t, err)
	assert.NotZero(t, s.ID())
	assert.Equal(t, uint32(0x5E55), p[1].A, "open-session outputs come back")

	s2, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	assert.NotEqual(t, s.ID(), s2.ID())
	assert.Equal(t, int64(2), ts.ta.opened.Load())
}

func TestShortBufferRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	ctx := testCtx(t)

	p := tee.Params{tee.Value(100, 0), tee.MemrefOut(10)}
	err := s.Invoke(ctx, cmdProduce, &p)
	require.ErrorIs(t, err, tee.ErrShortBuffer)
	assert.Equal(t, tee.OriginTrustedApp, teeErr(t, err).Origin)
	assert.Equal(t, uint32(100), p[1].Size, "size needed reported (GP short-buffer rule)")
	assert.Nil(t, p[1].Data, "nothing copied on short buffer")

	// Retry with the size the TA asked for, as a GP client does.
	require.NoError(t, s.Invoke(ctx, cmdProduce, &p))
	assert.Len(t, p[1].Data, 100)
	assert.Equal(t, uint32(100), p[1].Size)

	// INOUT: the echo returns the input, which must fit its capacity.
	p = tee.Params{tee.MemrefInout([]byte("abcdef"), 6)}
	require.NoError(t, s.Invoke(ctx, cmdEcho, &p))

	// The TA may report a short buffer itself via Size.
	p = tee.Params{tee.MemrefOut(4)}
	err = s.Invoke(ctx, cmdShortSelf, &p)
	require.ErrorIs(t, err, tee.ErrShortBuffer)
	assert.Equal(t, uint32(99), p[0].Size)
}

func TestErrorMapping(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := startServer(t, zap.New(core))
	_, s := ts.open(t)
	ctx := testCtx(t)

	cases := []struct {
		name   string
		cmd    uint32
		p      tee.Params
		code   tee.Result
		origin tee.Origin
	}{
		{"tee error, origin defaults to TA", cmdDenied, tee.Params{}, tee.ResultAccessDenied, tee.OriginTrustedApp},
		{"plain error is generic", cmdOpaque, tee.Params{tee.MemrefIn([]byte(secret))}, tee.ResultGeneric, tee.OriginTrustedApp},
		{"TA changed a param type", cmdChangeType, tee.Params{tee.Value(1, 2)}, tee.ResultGeneric, tee.OriginTEE},
		{"unknown command", 0x7777, tee.Params{}, tee.ResultNotImplemented, tee.OriginTrustedApp},
		{"wrong param types", cmdEcho, tee.Params{tee.Value(1, 1)}, tee.ResultBadParameters, tee.OriginTrustedApp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Invoke(ctx, c.cmd, &c.p)
			te := teeErr(t, err)
			assert.Equal(t, c.code, te.Code)
			assert.Equal(t, c.origin, te.Origin)
			assert.NotContains(t, err.Error(), secret, "TA detail must not reach the client")
			assert.NotContains(t, err.Error(), "policy")
		})
	}

	// A value the TA set does not travel back with an error result: outputs
	// are zeroed on failure (docs/protocol.md §1.5).
	p := tee.Params{tee.ValueOut()}
	err := s.Invoke(ctx, cmdValueAux, &p)
	require.ErrorIs(t, err, tee.ErrBusy)
	assert.Equal(t, [2]uint32{0, 0}, [2]uint32{p[0].A, p[0].B})

	// A panicking TA kills its session (TARGET_DEAD from the TEE), not the host.
	err = s.Invoke(ctx, cmdPanic, &tee.Params{tee.MemrefIn([]byte(secret))})
	te := teeErr(t, err)
	assert.Equal(t, tee.ResultTargetDead, te.Code)
	assert.Equal(t, tee.OriginTEE, te.Origin)
	err = s.Invoke(ctx, cmdDenied, nil)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	require.NoError(t, s.Close(ctx))

	_, s2 := ts.open(t)
	p = tee.Params{tee.MemrefInout([]byte("alive"), 5)}
	require.NoError(t, s2.Invoke(ctx, cmdEcho, &p), "other sessions unaffected")

	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if e.Message == "TA error answered as TEEC_ERROR_GENERIC" {
			continue // the TA's own error text is the TA's log, by design
		}
		assert.NotContains(t, line, secret, "log line leaks a parameter or panic value: %s", line)
	}
	require.NotEmpty(t, logs.FilterMessage("TA panic").All())
}

// TestCommandLog: every answered command is logged without its
// parameters; a successful one at debug (per-request chatter: the HAL's
// event poll alone is five a second), so an idle device is silent at info.
func TestCommandLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := startServer(t, zap.New(core))
	_, s := ts.open(t)
	p := tee.Params{tee.MemrefInout([]byte(secret), 64)}
	require.NoError(t, s.Invoke(testCtx(t), cmdEcho, &p))

	var found bool
	for _, e := range logs.FilterMessage("command").All() {
		m := e.ContextMap()
		require.NotContains(t, fmt.Sprint(m), secret)
		if m["op"] == "INVOKE" {
			found = true
			assert.Equal(t, zapcore.DebugLevel, e.Level)
			assert.Equal(t, uint32(cmdEcho), m["cmd"])
			assert.Equal(t, s.ID(), m["session"])
			assert.Equal(t, "TEEC_SUCCESS", m["result"])
			assert.Equal(t, "TEEC_ORIGIN_TRUSTED_APP", m["origin"])
			assert.Contains(t, m, "duration")
			assert.Contains(t, m, "conn")
		}
	}
	require.True(t, found, "an INVOKE command line is logged")
}

// TestConcurrency runs many sessions over several connections at once,
// each checking its own data, and proves that two sessions on one
// connection run in the TA at the same time.
func TestConcurrency(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)
	const conns, sessPerConn, calls = 4, 4, 50

	var wg sync.WaitGroup
	errs := make(chan error, conns*sessPerConn)
	for ci := range conns {
		c := ts.dial(t)
		for si := range sessPerConn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := c.OpenSession(ctx, testUUID, nil)
				if err != nil {
					errs <- err
					return
				}
				for k := range calls {
					msg := []byte(fmt.Sprintf("c%d-s%d-k%d", ci, si, k))
					p := tee.Params{tee.MemrefIn(msg), tee.MemrefOut(64), tee.Value(uint32(k), 0), tee.ValueOut()}
					if err := s.Invoke(ctx, cmdTransform, &p); err != nil {
						errs <- err
						return
					}
					want := bytes.Clone(msg)
					for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
						want[i], want[j] = want[j], want[i]
					}
					if !bytes.Equal(p[1].Data, want) || p[3].A != uint32(k)+1 {
						errs <- fmt.Errorf("crossed responses: got %q/%d want %q/%d", p[1].Data, p[3].A, want, k+1)
						return
					}
				}
				errs <- s.Close(ctx)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Two sessions on one connection block in the TA simultaneously.
	c := ts.dial(t)
	s1, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	s2, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	ts.ta.maxRunning.Store(0)
	done := make(chan error, 2)
	for _, s := range []*Session{s1, s2} {
		go func() { done <- s.Invoke(ctx, cmdGate, nil) }()
	}
	require.Eventually(t, func() bool { return ts.ta.running.Load() == 2 }, 5*time.Second, time.Millisecond)
	ts.ta.openGate()
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Equal(t, int64(2), ts.ta.maxRunning.Load())
}

// TestOneCommandPerSession: concurrent Invokes on one Session are
// serialised by the client, never overlap in the TA, and all succeed.
func TestOneCommandPerSession(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	ctx := testCtx(t)
	ts.ta.maxRunning.Store(0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := tee.Params{tee.Value(uint32(1+i%3), 0)}
			assert.NoError(t, s.Invoke(ctx, cmdSleep, &p))
		}()
	}
	wg.Wait()
	require.Equal(t, int64(1), ts.ta.maxRunning.Load())
}

func TestContextCancel(t *testing.T) {
	ts := startServer(t, nil)
	c, s := ts.open(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := s.Invoke(ctx, cmdGate, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, tee.ResultCancel, tee.ResultOf(err))

	// The gated command still runs in the TA; the session's next command
	// waits for it rather than being refused as busy.
	next := make(chan error, 1)
	go func() {
		p := tee.Params{tee.MemrefInout([]byte("after"), 8)}
		next <- s.Invoke(testCtx(t), cmdEcho, &p)
	}()
	select {
	case err := <-next:
		t.Fatalf("next command did not wait for the abandoned one: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ts.ta.openGate()
	require.NoError(t, <-next)

	// An already-cancelled context fails before anything is sent.
	dead, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.ErrorIs(t, s.Invoke(dead, cmdEcho, nil), context.Canceled)
	_, err = c.OpenSession(dead, testUUID, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, c.Err())
}

func TestMaxSessions(t *testing.T) {
	ts := startServer(t, nil, WithMaxSessions(2))
	c := ts.dial(t)
	ctx := testCtx(t)
	s1, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	_, err = c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	_, err = c.OpenSession(ctx, testUUID, nil)
	require.Equal(t, tee.ResultOutOfMemory, tee.ResultOf(err))
	require.NoError(t, s1.Close(ctx))
	_, err = c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	// The limit is per connection.
	_, err = ts.dial(t).OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
}

func TestSessionsClosedWithConnection(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	for range 3 {
		_, err := c.OpenSession(testCtx(t), testUUID, nil)
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return ts.ta.closed.Load() == 3 }, 5*time.Second, time.Millisecond)

	_, err := c.OpenSession(testCtx(t), testUUID, nil)
	require.ErrorIs(t, err, ErrClientClosed)
}

func TestClientClosePendingCall(t *testing.T) {
	ts := startServer(t, nil)
	c, s := ts.open(t)
	done := make(chan error, 1)
	go func() { done <- s.Invoke(testCtx(t), cmdGate, nil) }()
	ts.ta.waitGated(t)
	require.NoError(t, c.Close())
	err := <-done
	require.ErrorIs(t, err, ErrClientClosed)
	require.Equal(t, tee.ResultBadState, tee.ResultOf(err))
}

// TestTargetDeadWhenServerGoesAway: the host dies mid-call (forced
// shutdown closes every connection); the pending call and every later one
// fail promptly with TEEC_ERROR_TARGET_DEAD from COMMS.
func TestTargetDeadWhenServerGoesAway(t *testing.T) {
	ts := startServer(t, nil)
	c, s := ts.open(t)
	done := make(chan error, 1)
	go func() { done <- s.Invoke(testCtx(t), cmdGate, nil) }()
	ts.ta.waitGated(t)

	expired, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, ts.srv.Shutdown(expired), context.Canceled)

	awaitTargetDead(t, done)
	require.ErrorIs(t, s.Invoke(testCtx(t), cmdEcho, nil), tee.ErrTargetDead)
	_, err := c.OpenSession(testCtx(t), testUUID, nil)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	require.ErrorIs(t, c.Err(), tee.ErrTargetDead)

	_, err = Dial(testCtx(t), ts.path)
	require.ErrorIs(t, err, tee.ErrTargetDead, "nothing listens any more")
	require.ErrorIs(t, <-ts.serve, ErrServerClosed)
}

func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	_, idle := ts.open(t)
	done := make(chan error, 1)
	go func() { done <- s.Invoke(testCtx(t), cmdGate, nil) }()
	ts.ta.waitGated(t)

	shut := make(chan error, 1)
	go func() { shut <- ts.srv.Shutdown(testCtx(t)) }()

	// Listener closed at once: new clients are refused, the socket is gone.
	require.ErrorIs(t, <-ts.serve, ErrServerClosed)
	_, err := os.Stat(ts.path)
	require.True(t, os.IsNotExist(err), "socket file removed")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned before the in-flight command finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	ts.ta.openGate()
	require.NoError(t, <-done, "in-flight command answered")
	require.NoError(t, <-shut)
	require.Equal(t, int64(2), ts.ta.closed.Load(), "every session closed")
	require.ErrorIs(t, idle.Invoke(testCtx(t), cmdEcho, nil), tee.ErrTargetDead)
	ln, err := net.Listen("unix", ts.path)
	require.NoError(t, err)
	require.ErrorIs(t, ts.srv.Serve(ln), ErrServerClosed, "no serving after Shutdown")
	_, err = os.Stat(ts.path)
	require.True(t, os.IsNotExist(err), "Serve closed the listener")
}

func TestDialNothingListening(t *testing.T) {
	_, err := Dial(testCtx(t), testkit.ShortDir(t)+"/none.sock")
	requireTargetDead(t, err)
}

func TestClientRejectsUnframeableParams(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	ctx := testCtx(t)

	p := tee.Params{{Type: tee.ParamMemrefInout, Data: []byte("toolong"), Size: 2}}
	err := s.Invoke(ctx, cmdEcho, &p)
	require.Equal(t, tee.ResultBadParameters, tee.ResultOf(err))
	assert.Equal(t, tee.OriginAPI, teeErr(t, err).Origin)

	p = tee.Params{{Type: 0x0C}}
	require.Equal(t, tee.ResultBadParameters, tee.ResultOf(s.Invoke(ctx, cmdEcho, &p)))

	p = tee.Params{tee.MemrefIn(make([]byte, 1<<20))}
	require.Equal(t, tee.ResultExcessData, tee.ResultOf(s.Invoke(ctx, cmdEcho, &p)))

	// The session still works.
	p = tee.Params{tee.MemrefInout([]byte("ok"), 2)}
	require.NoError(t, s.Invoke(ctx, cmdEcho, &p))
}

// TestLargeMemref moves a memref close to the frame limit both ways.
func TestLargeMemref(t *testing.T) {
	ts := startServer(t, nil)
	_, s := ts.open(t)
	data := bytes.Repeat([]byte{0xA5}, 1<<20-64)
	p := tee.Params{tee.MemrefInout(data, uint32(len(data)))}
	require.NoError(t, s.Invoke(testCtx(t), cmdEchoSet, &p))
	require.Equal(t, data, p[0].Data)

	// An output the host cannot frame is TEEC_ERROR_EXCESS_DATA, not a hang.
	p = tee.Params{tee.Value(1<<20, 0), tee.MemrefOut(1 << 21)}
	err := s.Invoke(testCtx(t), cmdProduce, &p)
	require.Equal(t, tee.ResultExcessData, tee.ResultOf(err))
	require.Equal(t, tee.OriginTEE, teeErr(t, err).Origin)
}

func TestErrorTexts(t *testing.T) {
	err := targetDead(errors.New("EOF"))
	require.True(t, strings.HasPrefix(err.Error(), "TEEC_ERROR_TARGET_DEAD (TEEC_ORIGIN_COMMS)"), err.Error())
	require.ErrorIs(t, err, tee.ErrTargetDead)
}
