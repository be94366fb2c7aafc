package payserver_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/servertest"
	"github.com/fpemu/fpemu/payserver/store/storetest"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/load"
)

// The fault tests of issue 11: `fpemu server` processes SIGKILLed in the
// middle of a payment, and the PostgreSQL server under them restarted.
// The device is sim/load's (the real payment TA in this process); the
// servers are the built binary, each its own process.

// faultBench is a CA, one provisioned sim/load device, and the server
// arguments for a database.
type faultBench struct {
	exe  string
	args []string
	dev  *load.Device
}

func newFaultBench(t *testing.T, ctx context.Context, dir, db string) *faultBench {
	t.Helper()
	exe := testkit.BuildFpemu(t, dir)
	caDir, loadDir := filepath.Join(dir, "ca"), filepath.Join(dir, "load")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	roots, err := load.Init(ctx, load.InitConfig{Dir: loadDir, Devices: 1, CA: c, ServerName: "pay.fpemu.test"})
	require.NoError(t, c.Close())
	require.NoError(t, err)
	d, err := load.OpenDevice(ctx, loadDir, 0)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return &faultBench{exe: exe, dev: d, args: []string{"--db", db, "--ca", caDir, "--device-roots", roots}}
}

// dial opens the device's channel to the server at addr. The connection is
// closed when the test ends (and may be closed earlier by the caller).
func (b *faultBench) dial(t *testing.T, ctx context.Context, addr string) (*drive.Channel, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	ch, err := drive.Connect(ctx, b.dev.Pay, conn, chanwire.ProfileGMFS)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ch.Close(cctx)
	})
	return ch, conn
}

// TestKillServerMidPayment is issue 11's fault "kill -9 of a server at
// random points during a payment", on SQLite: for each round the device
// (real payment TA) gets a challenge, signs the statement, sends it, and
// the server is SIGKILLed 0–4 ms later — before the statement is read,
// during verification, inside the booking transaction, or after the
// feedback was sent. A new server process on the same database is
// started, the device reconnects and retries the way a payment app does
// (half the rounds ask OrderStatus first, then resend the same statement
// under the same request id if the order is not paid): every retry ends
// booked, a kill after the commit gives the first booking back (same
// entry), and the ledger holds exactly one row per order — nothing lost,
// nothing booked twice.
func TestKillServerMidPayment(t *testing.T) {
	dir := testkit.ShortDir(t)
	runKillMidPayment(t, dir, "sqlite:"+filepath.Join(dir, "server.db"))
}

// TestKillServerMidPaymentPostgres is the same on PostgreSQL
// (FPEMU_TEST_POSTGRES).
func TestKillServerMidPaymentPostgres(t *testing.T) {
	dir := testkit.ShortDir(t)
	runKillMidPayment(t, dir, storetest.PostgresURL(t, dir, "kill9"))
}

// sent is what the device saw of the statement sent before the kill.
type sent struct {
	fb  wire.Feedback
	err error
}

func runKillMidPayment(t *testing.T, dir, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newFaultBench(t, ctx, dir, db)
	srv := servertest.Start(t, b.exe, b.args...)
	ch, conn := b.dial(t, ctx, srv.Channel)
	require.NoError(t, ch.RegisterWithServer(ctx, b.dev.Reg, load.Fingers))

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill delays seeded with %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 11))
	const rounds = 16
	orders := map[string]int64{}
	outcomes := map[string]int{}
	for i := range rounds {
		order := createOrder(t, srv.HTTP, fmt.Sprintf("kill-%d", i), 500+i)
		_, sum, err := ch.ServerChallenge(ctx, order)
		require.NoError(t, err)
		payload, err := wire.Binding(sum)
		require.NoError(t, err)
		signed, err := b.dev.Sign(ctx, payload)
		require.NoError(t, err)
		req := fmt.Appendf(nil, "kill-%d", i)

		// Round 0 kills at once, the last after the feedback; the others
		// at a random point in between.
		delay := time.Duration(rng.IntN(4_000)) * time.Microsecond
		switch i {
		case 0:
			delay = 0
		case rounds - 1:
			delay = 200 * time.Millisecond
		}
		res := make(chan sent, 1)
		go func() {
			fb, err := ch.ResendStatement(ctx, signed, sum, req)
			res <- sent{fb, err}
		}()
		time.Sleep(delay)
		srv.Kill(t)
		first := <-res
		_ = conn.Close()
		if first.err == nil {
			require.Equal(t, wire.RuleOK, first.fb.Rule, "round %d: an answer before the kill books: %+v", i, first.fb)
		}

		srv = servertest.Start(t, b.exe, b.args...)
		ch, conn = b.dial(t, ctx, srv.Channel)
		var fb wire.Feedback
		resend := true
		if i%2 == 1 {
			// The app lost the feedback: it asks first.
			st, err := ch.OrderStatus(ctx, order)
			require.NoError(t, err)
			if st.Rule == wire.RuleOK {
				fb, resend = st, false
				assert.True(t, st.Replayed)
			} else {
				assert.Equal(t, wire.RuleNotYours, st.Rule, "round %d: an unpaid order's status: %+v", i, st)
			}
		}
		if resend {
			fb, err = ch.ResendStatement(ctx, signed, sum, req)
			require.NoError(t, err, "round %d: the retry gets an answer", i)
		}
		require.Equal(t, wire.RuleOK, fb.Rule, "round %d (kill after %v): the retry books or returns the booking: %+v", i, delay, fb)
		switch {
		case first.err == nil:
			assert.True(t, fb.Replayed, "round %d", i)
			assert.Equal(t, first.fb.EntryID, fb.EntryID, "round %d: the first booking", i)
			outcomes["feedback before the kill"]++
		case fb.Replayed:
			outcomes["booked, killed before the feedback"]++
		default:
			outcomes["killed before the commit, booked by the retry"]++
		}
		orders[order] = fb.EntryID
	}
	t.Logf("outcomes: %v", outcomes)
	assert.Positive(t, outcomes["feedback before the kill"], "the last round kills after the feedback")

	entries := ledger(t, srv.HTTP)
	require.Len(t, entries, rounds, "one ledger row per order")
	var last uint64
	for _, e := range entries {
		want, ok := orders[e.OrderID]
		require.True(t, ok, "ledger row for an unknown order %s", e.OrderID)
		assert.Equal(t, want, e.EntryID, "order %s: the entry the device was told", e.OrderID)
		delete(orders, e.OrderID)
		assert.Greater(t, e.Counter, last, "counters strictly increase")
		last = e.Counter
	}
	assert.Empty(t, orders, "every order booked")
	srv.Stop(t)
}
