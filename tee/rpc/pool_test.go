package rpc

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// Commands of poolTA.
const (
	poolCheck  uint32 = 1 // p0 MEMREF_INPUT, all one byte; yields, then re-checks every byte; p1 VALUE_OUTPUT {1 if stable}
	poolKeep   uint32 = 2 // p0 MEMREF_INPUT: the session keeps p0's Data (a non-ParamBorrower TA may)
	poolReturn uint32 = 3 // p0 MEMREF_OUTPUT: a copy of what poolKeep kept
)

// poolTA is a TA for the request-pooling tests; borrow says whether it
// declares itself a ParamBorrower.
type poolTA struct{ borrow bool }

func (ta *poolTA) BorrowsParams() bool { return ta.borrow }

func (ta *poolTA) OpenSession(context.Context, *tee.Params) (TASession, error) {
	return &poolSession{}, nil
}

type poolSession struct{ kept []byte }

func (s *poolSession) Close() {}

func (s *poolSession) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	switch cmd {
	case poolCheck:
		d := p[0].Data
		if len(d) == 0 {
			return tee.ErrBadParameters
		}
		for range 3 {
			runtime.Gosched() // let other connections' requests be decoded meanwhile
		}
		stable := uint32(1)
		for _, b := range d {
			if b != d[0] {
				stable = 0
			}
		}
		p.SetValue(1, stable, 0)
	case poolKeep:
		s.kept = p[0].Data
	case poolReturn:
		p.SetOutput(0, bytes.Clone(s.kept))
	}
	return nil
}

// servePool serves ta on a fresh socket for the test and returns its path.
func servePool(t *testing.T, ta TA) string {
	t.Helper()
	path := filepath.Join(testkit.ShortDir(t), "ta.sock")
	srv := NewServer(testUUID, ta, nil)
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown(testkit.Context(t, 5e9)) })
	return path
}

// TestOutputNotMutatedByLaterInvoke: an output the client returned is the
// caller's: later invokes of any size on the same session, another session
// of the connection or another connection, and the caller reusing its
// input buffer, never change it — with pooled request arenas on the host
// (the fake is a ParamBorrower) and pooled calls on the client.
func TestOutputNotMutatedByLaterInvoke(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)
	c, a := openAt(t, ts.path)
	b, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	_, other := openAt(t, ts.path)

	for _, size := range []int{64, 4096, ownBufLen + 100} {
		payload := bytes.Repeat([]byte{'A'}, size)
		p := tee.Params{tee.MemrefInout(payload, uint32(size))}
		require.NoError(t, a.Invoke(ctx, cmdEcho, &p))
		out := p[0].Data
		require.Equal(t, payload, out)

		for i := range payload {
			payload[i] = 'Z' // the caller reuses its buffer
		}
		for _, s := range []*Session{a, b, other, a} {
			for _, n := range []int{size, 64, 2 * size} {
				q := tee.Params{tee.MemrefInout(bytes.Repeat([]byte{'B'}, n), uint32(n))}
				require.NoError(t, s.Invoke(ctx, cmdEcho, &q))
				q[0].Data[0] = 'C' // and writes into a later output
			}
		}
		assert.Equal(t, bytes.Repeat([]byte{'A'}, size), out, "size %d: earlier output unchanged", size)
	}
}

// TestPooledArenasNotShared: requests in flight at once — on several
// sessions of one connection (the watchdog hands reading on while a
// command runs) and on several connections — each see their own memref
// bytes for the whole command: a pooled arena is never visible to another
// request while in use. Run with -race.
func TestPooledArenasNotShared(t *testing.T) {
	path := servePool(t, &poolTA{borrow: true})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for conn := range 3 {
		c := dialAt(t, path)
		for sess := range 3 {
			s, err := c.OpenSession(ctx, testUUID, nil)
			require.NoError(t, err)
			fill := byte('a' + 3*conn + sess)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					size := 64 + (i*37)%4000
					p := tee.Params{tee.MemrefIn(bytes.Repeat([]byte{fill}, size)), tee.ValueOut()}
					if !assert.NoError(t, s.Invoke(ctx, poolCheck, &p)) {
						return
					}
					if !assert.Equal(t, uint32(1), p[1].A, "request %d of %c saw another request's bytes", i, fill) {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}

// TestOwnedParamsByDefault: a TA that is not a ParamBorrower may keep a
// memref's Data across commands (its memrefs are its own), while other
// requests are decoded on the same connection.
func TestOwnedParamsByDefault(t *testing.T) {
	path := servePool(t, &poolTA{borrow: false})
	ctx := testCtx(t)
	c, s := openAt(t, path)
	s2, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)

	kept := bytes.Repeat([]byte{'K'}, 100)
	require.NoError(t, s.Invoke(ctx, poolKeep, &tee.Params{tee.MemrefIn(bytes.Clone(kept))}))
	for range 20 {
		p := tee.Params{tee.MemrefIn(bytes.Repeat([]byte{'x'}, 100)), tee.ValueOut()}
		require.NoError(t, s2.Invoke(ctx, poolCheck, &p))
	}
	p := tee.Params{tee.MemrefOut(200)}
	require.NoError(t, s.Invoke(ctx, poolReturn, &p))
	assert.Equal(t, kept, p[0].Data)
}

// TestPutRequestPoisonsAndBounds: a released request keeps an arena only
// up to keepArenaLen, and under the race detector its bytes are
// overwritten, so a ParamBorrower that keeps a memref sees garbage in its
// tests.
func TestPutRequestPoisonsAndBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		cap  int
		kept bool
	}{
		{"own-buffer sized", keepArenaLen, true},
		{"larger frame", keepArenaLen + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &request{arena: append(make([]byte, 0, tc.cap), "memref"...)}
			r.f.Params[0] = tee.MemrefIn(r.arena[:6:6])
			retained := r.f.Params[0].Data
			putRequest(r)
			assert.Equal(t, tee.Params{}, r.f.Params, "no reference to the old params")
			assert.Empty(t, r.arena)
			if tc.kept {
				assert.Equal(t, tc.cap, cap(r.arena))
			} else {
				assert.Nil(t, r.arena, "a large frame's arena is dropped")
			}
			if poisonArenas && tc.kept {
				assert.Equal(t, bytes.Repeat([]byte{0xA5}, 6), retained)
			}
			if !poisonArenas {
				assert.Equal(t, "memref", string(retained))
			}
		})
	}
}
