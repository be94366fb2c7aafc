package payserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/servertest"
	"github.com/fpemu/fpemu/payserver/store/storetest"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/load"
)

func createOrder(t *testing.T, base, key string, amount int) string {
	t.Helper()
	o, created, err := payserver.CreateOrder(context.Background(), base, key, payserver.OrderRequest{Payee: "race-shop", Amount: int64(amount), Currency: "CNY", Summary: "race"})
	require.NoError(t, err)
	require.True(t, created)
	return o.ID
}

func ledger(t *testing.T, base string) []payserver.EntryJSON {
	t.Helper()
	resp, err := http.Get("http://" + base + "/v1/ledger?limit=1000")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var l payserver.LedgerJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
	return l.Entries
}

// answer is one server's answer to a raced statement.
type answer struct {
	fb  wire.Feedback
	err error
}

// TestScaleOutRaceTwoServers is issue 11's scale-out: two `fpemu server`
// processes on one PostgreSQL database behave as one server. For each of
// several orders a device (the real payment TA, in process) gets a
// challenge from server A, signs one statement for it, and the same
// statement — same order, same challenge — is raced at A and B at once
// over two channel connections: half the rounds with the same request id
// (a duplicated request), half with two (a double spend). Exactly one
// answer books; the other is the first result (replayed, same ledger
// entry) or a typed refusal, never a second booking, and the ledger, read
// through B, has one row per order. Then `fpemu load` pays through both
// servers at once and every payment is booked exactly once.
func TestScaleOutRaceTwoServers(t *testing.T) {
	dir := testkit.ShortDir(t)
	db := storetest.PostgresURL(t, dir, "scaleout")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	exe := testkit.BuildFpemu(t, dir)

	caDir, loadDir := filepath.Join(dir, "ca"), filepath.Join(dir, "load")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	roots, err := load.Init(ctx, load.InitConfig{Dir: loadDir, Devices: 2, CA: c, ServerName: "pay.fpemu.test"})
	require.NoError(t, c.Close())
	require.NoError(t, err)

	args := []string{"--db", db, "--ca", caDir, "--device-roots", roots}
	a := servertest.Start(t, exe, args...)
	b := servertest.Start(t, exe, args...)

	d, err := load.OpenDevice(ctx, loadDir, 0)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	dial := func(addr string) *drive.Channel {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		ch, err := drive.Connect(ctx, d.Pay, conn, chanwire.ProfileGMFS)
		require.NoError(t, err)
		return ch
	}
	chA, chB := dial(a.Channel), dial(b.Channel)
	require.NoError(t, chA.RegisterWithServer(ctx, d.Reg, load.Fingers))

	const rounds = 12
	outcomes := map[string]int{}
	for i := range rounds {
		order := createOrder(t, a.HTTP, fmt.Sprintf("race-%d", i), 100+i)
		_, sum, err := chA.ServerChallenge(ctx, order)
		require.NoError(t, err)
		payload, err := wire.Binding(sum)
		require.NoError(t, err)
		signed, err := d.Sign(ctx, payload)
		require.NoError(t, err)
		sameID := i%2 == 0
		reqs := [2][]byte{fmt.Appendf(nil, "race-%d-a", i), fmt.Appendf(nil, "race-%d-b", i)}
		if sameID {
			reqs[1] = reqs[0]
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			answers [2]answer
		)
		for j, ch := range []*drive.Channel{chA, chB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				fb, err := ch.ResendStatement(ctx, signed, sum, reqs[j])
				answers[j] = answer{fb, err}
			}()
		}
		close(start)
		wg.Wait()

		var booked []wire.Feedback
		var other []answer
		for _, an := range answers {
			if an.err == nil && an.fb.Rule == wire.RuleOK && !an.fb.Replayed {
				booked = append(booked, an.fb)
			} else {
				other = append(other, an)
			}
		}
		require.Len(t, booked, 1, "round %d (same request id %v): exactly one books: %+v", i, sameID, answers)
		o := other[0]
		require.NoError(t, o.err, "round %d: the loser gets an answer, not a broken channel", i)
		switch {
		case o.fb.Rule == wire.RuleOK:
			require.True(t, o.fb.Replayed)
			assert.Equal(t, booked[0].EntryID, o.fb.EntryID, "round %d: the first result", i)
			assert.Equal(t, booked[0].StatementHash, o.fb.StatementHash)
			outcomes["replayed"]++
		default:
			assert.True(t, o.fb.Rule.Known(), "round %d: a typed refusal: %+v", i, o.fb)
			assert.NotEqual(t, wire.RuleUnavailable, o.fb.Rule, "round %d: the store decided", i)
			assert.Equal(t, order, o.fb.OrderID)
			outcomes["refused "+o.fb.Rule.String()]++
		}
		// Same request id: the loser must get the first result.
		if sameID {
			assert.Equal(t, wire.RuleOK, o.fb.Rule, "round %d: a duplicated request gets the first result", i)
		}
	}
	t.Logf("losers: %v", outcomes)

	entries := ledger(t, b.HTTP)
	require.Len(t, entries, rounds, "one ledger row per order, seen from the other server")
	perOrder := map[string]int{}
	for _, e := range entries {
		perOrder[e.OrderID]++
	}
	for o, n := range perOrder {
		assert.Equal(t, 1, n, "order %s", o)
	}

	// fpemu load through both servers at once: all booked, both used.
	cmd := exec.CommandContext(ctx, exe, "load", "--dir", loadDir, "--devices", "2", "--payments", "40",
		"--server", a.Channel+","+b.Channel, "--http", b.HTTP, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())
	var rep struct {
		Booked    int            `json:"booked"`
		Errors    int            `json:"errors"`
		PerServer map[string]int `json:"per_server"`
		P99       float64        `json:"p99"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "%s", stdout.String())
	assert.Equal(t, 40, rep.Booked)
	assert.Zero(t, rep.Errors)
	assert.Positive(t, rep.PerServer[a.Channel])
	assert.Positive(t, rep.PerServer[b.Channel])
	assert.Positive(t, rep.P99)
	entries = ledger(t, a.HTTP)
	assert.Len(t, entries, rounds+40)
}
