package rpc

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// blkCmd is the command code type of blockTA.
type blkCmd uint32

const (
	blkWait blkCmd = 1 // waits until released or its context ends (a long poll)
	blkPing blkCmd = 2 // answers at once
)

func (c blkCmd) String() string {
	switch c {
	case blkWait:
		return "WAIT"
	case blkPing:
		return "PING"
	}
	return fmt.Sprintf("cmd(%d)", uint32(c))
}

// blockTA is a TA served through a Mux whose WAIT may be marked Blocks.
type blockTA struct {
	*Mux[*blockTA, blkCmd]
	waiting chan struct{} // a WAIT started
	release chan struct{} // a WAIT may return
}

func newBlockTA(t testing.TB, blocks bool) *blockTA {
	ta := &blockTA{waiting: make(chan struct{}, 1), release: make(chan struct{}, 1)}
	mux, err := NewMux("block", map[blkCmd]Route[*blockTA]{
		blkWait: {Blocks: blocks, Handler: (*blockTA).wait},
		blkPing: {Handler: func(*blockTA, context.Context, *tee.Params) error { return nil }},
	})
	require.NoError(t, err)
	ta.Mux = mux
	return ta
}

func (ta *blockTA) wait(ctx context.Context, _ *tee.Params) error {
	ta.waiting <- struct{}{}
	select {
	case <-ta.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ta *blockTA) OpenSession(context.Context, *tee.Params) (TASession, error) {
	return blockSession{ta}, nil
}

type blockSession struct{ ta *blockTA }

func (s blockSession) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return s.ta.Mux.Invoke(ctx, s.ta, cmd, p)
}

func (blockSession) Close() {}

// serveBlock serves ta; watchdog false turns the hand-off watchdog off, so
// that only a Blocks command's early hand-off can free the reader.
func serveBlock(tb testing.TB, ta *blockTA, watchdog bool) (*Server, string) {
	tb.Helper()
	path := filepath.Join(testkit.ShortDir(tb), "ta.sock")
	srv := NewServer(testUUID, ta, nil)
	srv.watchdogOff = !watchdog
	ln, err := net.Listen("unix", path)
	require.NoError(tb, err)
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, path
}

func TestMuxMayBlock(t *testing.T) {
	ta := newBlockTA(t, true)
	assert.True(t, ta.MayBlock(uint32(blkWait)))
	assert.False(t, ta.MayBlock(uint32(blkPing)))
	assert.False(t, ta.MayBlock(99), "an unknown command does not block")
	assert.False(t, newBlockTA(t, false).MayBlock(uint32(blkWait)))
}

// TestBlockingCommandHandsOffReading: while session A's long wait (a
// command its Mux marks Blocks) is pending, session B's command on the
// same connection is read and answered — with the watchdog turned off, so
// only the hand-off before the blocking command can have freed the reader.
// The counters show it: one early hand-off, none by the watchdog.
func TestBlockingCommandHandsOffReading(t *testing.T) {
	ta := newBlockTA(t, true)
	srv, path := serveBlock(t, ta, false)
	ctx := testCtx(t)
	c, a := openAt(t, path)
	b, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)

	for round := range 3 {
		done := make(chan error, 1)
		go func() { done <- a.Invoke(ctx, uint32(blkWait), nil) }()
		<-ta.waiting
		require.NoError(t, b.Invoke(ctx, uint32(blkPing), nil), "round %d: B answered while A waits", round)
		select {
		case err := <-done:
			t.Fatalf("round %d: A's wait returned before its release: %v", round, err)
		default:
		}
		ta.release <- struct{}{}
		require.NoError(t, <-done)
	}
	assert.Equal(t, int64(3), srv.earlyHandoffs.Load(), "one early hand-off per WAIT")
	assert.Zero(t, srv.wd.handoffs.Load(), "no watchdog hand-off")
}

// TestUnmarkedBlockingCommandWaitsForWatchdog is the contrast: the same
// long wait not marked Blocks keeps the reader until the watchdog hands it
// off (B is then answered, and the counter says by whom).
func TestUnmarkedBlockingCommandWaitsForWatchdog(t *testing.T) {
	ta := newBlockTA(t, false)
	srv, path := serveBlock(t, ta, true)
	ctx := testCtx(t)
	c, a := openAt(t, path)
	b, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- a.Invoke(ctx, uint32(blkWait), nil) }()
	<-ta.waiting
	require.NoError(t, b.Invoke(ctx, uint32(blkPing), nil))
	ta.release <- struct{}{}
	require.NoError(t, <-done)
	assert.Zero(t, srv.earlyHandoffs.Load())
	assert.GreaterOrEqual(t, srv.wd.handoffs.Load(), int64(1), "the watchdog freed the reader")
}

// BenchmarkBlockedConnection: per iteration, session A starts a long wait
// (WAIT) and, once it runs, session B on the same connection sends PING;
// reported: the median time from B's send to its answer (b-latency-ns).
// "early": WAIT is marked Blocks, so the host hands reading on before
// running it; "watchdog": unmarked, B waits for the watchdog's hand-off
// (up to handoffMax + handoffMin). In-process, over a Unix socket.
//
//	go test -run '^$' -bench BlockedConnection ./tee/rpc
func BenchmarkBlockedConnection(b *testing.B) {
	for _, v := range []struct {
		name   string
		blocks bool
	}{{"early", true}, {"watchdog", false}} {
		b.Run(v.name, func(b *testing.B) {
			ta := newBlockTA(b, v.blocks)
			_, path := serveBlock(b, ta, true)
			ctx := context.Background()
			c, err := Dial(ctx, path)
			require.NoError(b, err)
			defer c.Close()
			sa, err := c.OpenSession(ctx, testUUID, nil)
			require.NoError(b, err)
			sb, err := c.OpenSession(ctx, testUUID, nil)
			require.NoError(b, err)
			var lat []float64
			done := make(chan error, 1)
			for b.Loop() {
				go func() { done <- sa.Invoke(ctx, uint32(blkWait), nil) }()
				<-ta.waiting
				t0 := time.Now()
				if err := sb.Invoke(ctx, uint32(blkPing), nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, float64(time.Since(t0)))
				ta.release <- struct{}{}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(median(lat), "b-latency-ns")
		})
	}
}
