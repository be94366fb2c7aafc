package payserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store/storetest"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/load"
)

// serverProc is an `fpemu server` process, ended by pid with SIGTERM when
// the test ends (exit 0 required).
type serverProc struct {
	channel, http string
}

func startServer(t *testing.T, exe string, args ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"server", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			assert.NoError(t, err, "fpemu server exits 0 on SIGTERM; stderr:\n%s", stderr.String())
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("fpemu server did not stop on SIGTERM")
		}
	})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		lines <- l
		_, _ = io.Copy(io.Discard, r)
	}()
	p := &serverProc{}
	select {
	case l := <-lines:
		_, err := fmt.Sscanf(strings.TrimSpace(l), "ready channel=%s http=%s", &p.channel, &p.http)
		require.NoError(t, err, "readiness line %q", l)
	case err := <-exited:
		t.Fatalf("fpemu server exited before ready: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("fpemu server not ready in 30 s")
	}
	return p
}

func createOrder(t *testing.T, base, key string, amount int) string {
	t.Helper()
	body := fmt.Sprintf(`{"payee":"race-shop","amount":%d,"currency":"CNY","summary":"race"}`, amount)
	req, err := http.NewRequest(http.MethodPost, "http://"+base+"/v1/orders", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var o payserver.OrderJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&o))
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
	dir, err := os.MkdirTemp("", "scaleout")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := storetest.PostgresURL(t, dir, "scaleout")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build fpemu")
	}
	exe := filepath.Join(dir, "fpemu")
	out, err := exec.Command(goTool, "build", "-o", exe, "github.com/fpemu/fpemu/cmd/fpemu").CombinedOutput()
	require.NoError(t, err, "%s", out)

	caDir, loadDir := filepath.Join(dir, "ca"), filepath.Join(dir, "load")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	roots, err := load.Init(ctx, load.InitConfig{Dir: loadDir, Devices: 2, CA: c, ServerName: "pay.fpemu.test"})
	require.NoError(t, c.Close())
	require.NoError(t, err)

	args := []string{"--db", db, "--ca", caDir, "--device-roots", roots}
	a := startServer(t, exe, args...)
	b := startServer(t, exe, args...)

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
	chA, chB := dial(a.channel), dial(b.channel)
	require.NoError(t, chA.RegisterWithServer(ctx, d.Reg, load.Fingers))

	const rounds = 12
	outcomes := map[string]int{}
	for i := range rounds {
		order := createOrder(t, a.http, fmt.Sprintf("race-%d", i), 100+i)
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

	entries := ledger(t, b.http)
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
		"--server", a.channel+","+b.channel, "--http", b.http, "--json")
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
	assert.Positive(t, rep.PerServer[a.channel])
	assert.Positive(t, rep.PerServer[b.channel])
	assert.Positive(t, rep.P99)
	entries = ledger(t, a.http)
	assert.Len(t, entries, rounds+40)
}
