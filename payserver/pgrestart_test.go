package payserver_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/servertest"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/load"
)

// pgCluster is a throwaway PostgreSQL cluster of this test: its own data
// directory and Unix socket in a temporary directory, no TCP listener,
// run as the postgres user when the test runs as root (initdb refuses
// root), stopped (pg_ctl stop -m immediate) and removed when the test
// ends.
type pgCluster struct {
	bin, dir string
	port     int
	asUser   []string // runuser prefix, or nil
}

// pgBin finds the PostgreSQL server programs: initdb on PATH, else the
// newest /usr/lib/postgresql/*/bin (Debian's layout).
func pgBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func startCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin := pgBin()
	if bin == "" {
		testkit.Unavailable(t, "no PostgreSQL server programs (initdb, pg_ctl on PATH or in /usr/lib/postgresql/*/bin) to run a throwaway cluster")
	}
	dir := testkit.ShortDir(t)
	c := &pgCluster{bin: bin, dir: dir, port: 20000 + mrand.IntN(20000)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testkit.Unavailable(t, "running as root without a postgres user for initdb")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	out, err := c.ctl("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	t.Cleanup(func() {
		out, err := c.ctl("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").CombinedOutput()
		if err != nil {
			t.Logf("pg_ctl stop: %v: %s", err, out)
		}
	})
	out, err = c.ctl("pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", c.opts(), "start").CombinedOutput()
	require.NoError(t, err, "pg_ctl start: %s\n%s", out, c.log())
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// opts are the postmaster options: socket in dir, no TCP, no fsync (a
// throwaway cluster: a restart, not a power cut, is what the test plays).
func (c *pgCluster) opts() string {
	return fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c fsync=off", c.dir, c.port)
}

func (c *pgCluster) ctl(prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), c.asUser...), filepath.Join(c.bin, prog)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *pgCluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "log"))
	return string(b)
}

// url is the `fpemu server --db` URL of the cluster's postgres database.
func (c *pgCluster) url() string {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres", RawQuery: q.Encode()}).String()
}

// restart is pg_ctl restart in mode (the postmaster's output to the log
// file: without -l it would hold CombinedOutput's pipe open; fast: clients disconnected, open
// transactions rolled back; immediate: the postmaster and its backends
// killed, crash recovery at start).
func (c *pgCluster) restart(mode string) error {
	out, err := c.ctl("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-m", mode, "-w", "-t", "60", "-o", c.opts(), "restart").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %v: %s", mode, err, out)
	}
	return nil
}

// TestPostgresRestart is issue 11's fault "a PostgreSQL restart is
// survived": two `fpemu server` processes on one throwaway cluster, a
// device paying through both in turn, and the cluster restarted twice
// under the payments (pg_ctl restart -m fast, then -m immediate). Every
// answer during the outage is a clean one — a typed refusal (the
// server could not decide: "unavailable") over a channel that stays up,
// never a dropped connection or a hang — and the app's retry of the same
// statement under the same request id books it once (or gets the booking
// an ambiguous commit made). The servers reconnect by themselves: after
// each restart payments book on both, and the ledger holds one row per
// order.
func TestPostgresRestart(t *testing.T) {
	cl := startCluster(t)
	dir := testkit.ShortDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newFaultBench(t, ctx, dir, cl.url())
	servers := []*servertest.Server{servertest.Start(t, b.exe, b.args...), servertest.Start(t, b.exe, b.args...)}
	chans := make([]*drive.Channel, len(servers))
	for i, s := range servers {
		chans[i], _ = b.dial(t, ctx, s.Channel)
	}
	require.NoError(t, chans[0].RegisterWithServer(ctx, b.dev.Reg, load.Fingers))

	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		booked   = map[string]int64{}
		paid     atomic.Int64
	)
	note := func(k string) {
		mu.Lock()
		outcomes[k]++
		mu.Unlock()
	}
	// pay pays one order through server i, retrying what the server could
	// not decide; it returns the feedback that booked it.
	pay := func(i, n int) (wire.Feedback, error) {
		ch, srv := chans[i%2], servers[i%2]
		deadline := time.Now().Add(90 * time.Second)
		var order string
		for order == "" {
			o, _, err := payserver.CreateOrder(ctx, srv.HTTP, fmt.Sprintf("pg-%d", n),
				payserver.OrderRequest{Payee: "pg-shop", Amount: int64(700 + n), Currency: "CNY", Summary: "restart"})
			if err != nil {
				if time.Now().After(deadline) {
					return wire.Feedback{}, fmt.Errorf("create order: %w", err)
				}
				note("merchant API refused during the outage")
				time.Sleep(100 * time.Millisecond)
				continue
			}
			order = o.ID
		}
		for {
			_, sum, err := ch.ServerChallenge(ctx, order)
			var refused *drive.ServerRefused
			if errors.As(err, &refused) && refused.Rule == wire.RuleUnavailable && time.Now().Before(deadline) {
				note("challenge refused: unavailable")
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err != nil {
				return wire.Feedback{}, fmt.Errorf("order %s: challenge: %w", order, err)
			}
			payload, err := wire.Binding(sum)
			if err != nil {
				return wire.Feedback{}, err
			}
			signed, err := b.dev.Sign(ctx, payload)
			if err != nil {
				return wire.Feedback{}, err
			}
			req := fmt.Appendf(nil, "pg-%d", n)
			for try := 0; ; try++ {
				fb, err := ch.ResendStatement(ctx, signed, sum, req)
				if err != nil {
					return wire.Feedback{}, fmt.Errorf("order %s: the channel broke: %w", order, err)
				}
				switch {
				case fb.Rule == wire.RuleOK && try == 0:
					note("booked")
				case fb.Rule == wire.RuleOK && fb.Replayed:
					note("unavailable, retry got the booking of an ambiguous commit")
				case fb.Rule == wire.RuleOK:
					note("unavailable, then booked by the retry")
				case fb.Rule == wire.RuleUnavailable && time.Now().Before(deadline):
					time.Sleep(50 * time.Millisecond)
					continue
				default:
					return fb, fmt.Errorf("order %s: refused %s (%s)", order, fb.Rule, fb.Detail)
				}
				mu.Lock()
				booked[order] = fb.EntryID
				mu.Unlock()
				paid.Add(1)
				return fb, nil
			}
		}
	}

	const perPhase = 6
	n := 0
	for _, mode := range []string{"fast", "immediate"} {
		// Payments stream on while the cluster restarts.
		errc := make(chan error, 1)
		stream := n
		go func() {
			for k := range 3 * perPhase {
				if _, err := pay(stream+k, stream+k); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		// Restart once the stream is under way.
		var streamErr error
		streamDone := false
		for !streamDone && paid.Load() < int64(n+perPhase/2) {
			select {
			case streamErr = <-errc:
				streamDone = true
			case <-time.After(5 * time.Millisecond):
			}
		}
		require.NoError(t, streamErr, "before the %s restart", mode)
		require.False(t, streamDone, "the stream ended before the restart")
		require.NoError(t, cl.restart(mode), "%s", cl.log())
		require.NoError(t, <-errc, "across the %s restart", mode)
		n += 3 * perPhase
		// After the restart both servers book on their own.
		for i := range 2 {
			fb, err := pay(n, n)
			require.NoError(t, err, "server %d after the %s restart", i, mode)
			assert.Equal(t, wire.RuleOK, fb.Rule)
			n++
		}
	}
	t.Logf("outcomes: %v", outcomes)

	entries := ledger(t, servers[1].HTTP)
	require.Len(t, entries, n, "one ledger row per order")
	for _, e := range entries {
		want, ok := booked[e.OrderID]
		require.True(t, ok, "a ledger row for order %s the device was not told of", e.OrderID)
		assert.Equal(t, want, e.EntryID)
		delete(booked, e.OrderID)
	}
	assert.Empty(t, booked)
	for _, s := range servers {
		s.Stop(t)
	}
}
