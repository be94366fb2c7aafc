package rpc

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// TestCancelWhileReadingHandsOff: whichever caller holds the reading role,
// its cancellation must not strand the other caller's response.
func TestCancelWhileReadingHandsOff(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	ctx := testCtx(t)
	for range 6 {
		s1, err := c.OpenSession(ctx, testUUID, nil)
		require.NoError(t, err)
		s2, err := c.OpenSession(ctx, testUUID, nil)
		require.NoError(t, err)

		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		r1 := make(chan error, 1)
		r2 := make(chan error, 1)
		go func() { r1 <- s1.Invoke(short, cmdSleep, &tee.Params{tee.Value(60, 0)}) }()
		go func() { r2 <- s2.Invoke(ctx, cmdSleep, &tee.Params{tee.Value(30, 0)}) }()
		require.ErrorIs(t, <-r1, context.DeadlineExceeded)
		require.NoError(t, <-r2, "the other caller still gets its response")
		cancel()
		require.NoError(t, s1.Close(ctx), "close waits for the abandoned command")
		require.NoError(t, s2.Close(ctx))
	}
	require.NoError(t, c.Err())
}

// TestAbandonedOpenSessionIsClosed: a session the host opened after the
// caller gave up is closed by the client, not leaked.
func TestAbandonedOpenSessionIsClosed(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.OpenSession(short, testUUID, &tee.Params{tee.Value(openSlowMagic, 150)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool { return ts.ta.opened.Load() == 1 && ts.ta.closed.Load() == 1 },
		5*time.Second, time.Millisecond)
	// The connection stays healthy.
	_, err = c.OpenSession(testCtx(t), testUUID, nil)
	require.NoError(t, err)
}

// TestCancelMidFrame: the caller's context ends after half of its response
// arrived; the rest is read by the goroutine that took over, the stream
// stays in sync and the next call works.
func TestCancelMidFrame(t *testing.T) {
	cliEnd, hostEnd := net.Pipe()
	cl := NewClient(cliEnd)
	t.Cleanup(func() { cl.Close() })
	s := &Session{c: cl, id: 1, sem: make(chan struct{}, 1)}

	host := newFrameReader(hostEnd)
	answer := func(req []byte) []byte {
		f, err := wire.DecodeFrame(req)
		require.NoError(t, err)
		b, err := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpResponse, RequestID: f.RequestID,
			Origin: tee.OriginTrustedApp, Session: 1, Params: tee.Params{{Type: tee.ParamMemrefInout, Data: []byte("pong"), Size: 4}}})
		require.NoError(t, err)
		return b
	}
	hostDone := make(chan struct{})
	go func() {
		defer close(hostDone)
		req, err := host.next()
		if err != nil {
			return
		}
		resp := answer(req)
		hostEnd.Write(resp[:7]) // half a frame, then stall past the caller's deadline
		time.Sleep(60 * time.Millisecond)
		hostEnd.Write(resp[7:])
		req, err = host.next()
		if err != nil {
			return
		}
		hostEnd.Write(answer(req))
	}()

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p := tee.Params{tee.MemrefInout([]byte("ping"), 8)}
	require.ErrorIs(t, s.Invoke(short, cmdEcho, &p), context.DeadlineExceeded)

	p = tee.Params{tee.MemrefInout([]byte("ping"), 8)}
	require.NoError(t, s.Invoke(testCtx(t), cmdEcho, &p))
	require.Equal(t, []byte("pong"), p[0].Data)
	<-hostDone
	require.NoError(t, cl.Err())
}

// flakyReader returns a deadline error before every other read and delivers
// one byte at a time, the worst case for a resumable frame reader.
type flakyReader struct {
	r    io.Reader
	fail bool
}

func (f *flakyReader) Read(p []byte) (int, error) {
	f.fail = !f.fail
	if f.fail {
		return 0, os.ErrDeadlineExceeded
	}
	return f.r.Read(p[:1])
}

func TestFrameReaderResumes(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i, p := range []tee.Params{{}, {tee.MemrefIn([]byte("abc"))}, {tee.MemrefIn(make([]byte, 40000))}} {
		b, err := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpInvoke, RequestID: uint32(i), Params: p})
		require.NoError(t, err)
		stream = append(stream, b...)
		want = append(want, b)
	}
	fr := newFrameReader(&flakyReader{r: bytesReader(stream)})
	for _, w := range want {
		var got []byte
		for {
			b, err := fr.next()
			if err == nil {
				got = b
				break
			}
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		}
		require.Equal(t, w, got)
	}
	for {
		_, err := fr.next()
		if err == os.ErrDeadlineExceeded {
			continue
		}
		require.ErrorIs(t, err, io.EOF, "clean EOF between frames")
		break
	}

	// EOF inside a frame is unexpected.
	fr = newFrameReader(bytesReader(want[1][:9]))
	_, err := fr.next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

type sliceReader struct{ b []byte }

func bytesReader(b []byte) *sliceReader { return &sliceReader{b: b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
