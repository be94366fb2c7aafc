package load

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// provisioned is a CA and a load directory with n devices.
func provisioned(t *testing.T, n int) (caDir, dir, roots string) {
	t.Helper()
	base := t.TempDir()
	caDir, dir = filepath.Join(base, "ca"), filepath.Join(base, "load")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	defer c.Close()
	var seen []Progress
	roots, err = Init(testCtx(t), InitConfig{Dir: dir, Devices: n, CA: c, ServerName: "pay.fpemu.test",
		OnProgress: func(p Progress) { seen = append(seen, p) }})
	require.NoError(t, err)
	require.Len(t, seen, n)
	assert.Equal(t, Progress{Stage: "provision", Done: n, Total: n}, seen[n-1])
	return caDir, dir, roots
}

// inProcessServer runs the payment server (package payserver, SQLite) on
// loopback listeners until the test ends.
func inProcessServer(t *testing.T, caDir, roots string) (channelAddr, httpAddr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rb, err := os.ReadFile(roots)
	require.NoError(t, err)
	r, err := verify.ParseRoots(rb)
	require.NoError(t, err)
	creds, pool, err := payserver.IssueCredentials(ctx, caDir, "pay.fpemu.test")
	require.NoError(t, err)
	st, err := payserver.OpenStore(ctx, "sqlite:"+filepath.Join(t.TempDir(), "server.db"), store.Options{})
	require.NoError(t, err)
	srv, err := payserver.New(payserver.Config{Store: st, Roots: r, Channel: channel.ServerConfig{Credentials: creds, Roots: pool}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv.MerchantHandler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 2)
	go func() { served <- srv.ServeChannel(ctx, ln) }()
	go func() { served <- hs.Serve(hln) }()
	t.Cleanup(func() {
		cancel()
		_ = hs.Close()
		for range 2 {
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
				t.Errorf("server: %v", err)
			}
		}
		require.NoError(t, st.Close())
	})
	return ln.Addr().String(), hln.Addr().String()
}

// TestRunBooksEveryPayment: three devices (each its own payment TA and
// sealed store) pay ten orders through one server; every payment is
// booked, the ledger holds exactly those ten rows, the report's counts
// and percentiles are consistent, and a second run on the same
// directory (a reboot of every device) books ten more.
func TestRunBooksEveryPayment(t *testing.T) {
	caDir, dir, roots := provisioned(t, 3)
	chAddr, httpAddr := inProcessServer(t, caDir, roots)
	var last Progress
	stages := map[string]bool{}
	rep, err := Run(testCtx(t), Config{Dir: dir, Devices: 3, Payments: 10, Servers: []string{chAddr}, HTTP: httpAddr,
		OnProgress: func(p Progress) { last = p; stages[p.Stage] = true }})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep)
	assert.Equal(t, 10, rep.Booked)
	assert.Equal(t, map[string]int{chAddr: 10}, rep.PerServer)
	assert.Equal(t, Progress{Stage: "pay", Done: 10, Total: 10}, last)
	assert.Equal(t, map[string]bool{"boot": true, "orders": true, "connect": true, "pay": true}, stages)
	assert.Positive(t, rep.PerSecond)
	assert.Positive(t, rep.P50)
	assert.LessOrEqual(t, rep.P50, rep.P90)
	assert.LessOrEqual(t, rep.P90, rep.P99)
	assert.LessOrEqual(t, rep.P99, rep.Max)
	assert.LessOrEqual(t, time.Duration(rep.Max), time.Duration(rep.Elapsed))

	ledger := func() payserver.LedgerJSON {
		resp, err := http.Get("http://" + httpAddr + "/v1/ledger?limit=100")
		require.NoError(t, err)
		defer resp.Body.Close()
		var l payserver.LedgerJSON
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
		return l
	}
	l := ledger()
	require.Len(t, l.Entries, 10)
	orders := map[string]bool{}
	for _, e := range l.Entries {
		orders[e.OrderID] = true
		assert.Equal(t, Fingers[0], e.FingerID)
	}
	assert.Len(t, orders, 10, "one row per order")

	rep, err = Run(testCtx(t), Config{Dir: dir, Devices: 2, Payments: 10, Servers: []string{chAddr}, HTTP: httpAddr})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep)
	assert.Len(t, ledger().Entries, 20)
}

// TestRunRefusals: a run is refused before anything starts when its
// configuration is wrong, and when the directory holds fewer devices
// than asked for.
func TestRunRefusals(t *testing.T) {
	ok := Config{Dir: t.TempDir(), Devices: 1, Payments: 1, Servers: []string{"127.0.0.1:1"}, HTTP: "127.0.0.1:2"}
	for name, mut := range map[string]func(*Config){
		"no dir":         func(c *Config) { c.Dir = "" },
		"no devices":     func(c *Config) { c.Devices = 0 },
		"too many":       func(c *Config) { c.Devices = MaxDevices + 1 },
		"no payments":    func(c *Config) { c.Payments = 0 },
		"no server":      func(c *Config) { c.Servers = nil },
		"server no port": func(c *Config) { c.Servers = []string{"localhost"} },
		"no http":        func(c *Config) { c.HTTP = "" },
	} {
		c := ok
		mut(&c)
		_, err := Run(context.Background(), c)
		assert.ErrorIs(t, err, ErrConfig, name)
	}
	_, err := Run(context.Background(), ok)
	assert.ErrorIs(t, err, ErrNotProvisioned, "an empty directory")

	_, dir, _ := provisioned(t, 1)
	c := ok
	c.Dir, c.Devices = dir, 2
	_, err = Run(testCtx(t), c)
	assert.ErrorIs(t, err, ErrNotProvisioned, "device 1 was never provisioned")
}

// TestPercentile is the nearest-rank definition.
func TestPercentile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {1, 1}} {
		assert.Equal(t, tc.want, percentile(s, tc.p), "p%d", tc.p)
	}
	assert.Equal(t, time.Duration(7), percentile([]time.Duration{7}, 99))
	assert.Equal(t, time.Duration(2), percentile([]time.Duration{1, 2}, 99))
	assert.Equal(t, time.Duration(1), percentile([]time.Duration{1, 2}, 50))
}
