// Package load is `fpemu load`: a load generator for `fpemu server`
// (docs/protocol.md §14) that drives many simulated devices, each running
// the real payment TA code (bio/payment) in this process behind a real
// tee/rpc host on a Unix socket, with its own sealed store, its own
// attestation and channel keys and its own fingerprint bio hook. Each
// device opens the trusted channel (§11) to one of the servers, registers
// its scene key and pays merchant orders — challenge and signed summary,
// BEGIN_PAYMENT, a fingerprint match, CHANNEL_SEAL_PAYMENT, the server's
// feedback verified by the TA — and the run reports throughput and
// latency percentiles.
//
// Init provisions the devices once (a directory per device, the CA
// issuing their channel certificates) and writes the device roots the
// servers must trust; Run boots them and pays. It is REE and secure
// world in one process on purpose: the load generator is a test tool,
// linked only by cmd/fpemu and tests.
package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/drive"
)

// Bounds of one run: every device holds a TA, a socket and a channel
// connection; every payment a latency sample.
const (
	MaxDevices  = 1024
	MaxPayments = 1 << 20
	// closeTimeout bounds closing one device.
	closeTimeout = 5 * time.Second
)

// ErrConfig is a configuration refused before anything starts.
var ErrConfig = errors.New("load: invalid configuration")

// InitConfig is what Init needs.
type InitConfig struct {
	// Dir is the load directory (created 0700): one sub-directory per
	// device, RootsFile and the channel trust anchors.
	Dir string
	// Devices is how many devices to provision (those already there are
	// kept and only their device root re-read).
	Devices int
	// CA issues the devices' dual channel certificates; its root is the
	// devices' trust anchor for the server.
	CA *ca.CA
	// ServerName is the name the server's certificate carries.
	ServerName string
	// OnProgress, if set, is called after each device.
	OnProgress func(Progress)
}

// Progress is where a run is.
type Progress struct {
	Stage       string // "provision", "boot", "orders", "connect", "pay"
	Done, Total int
}

// Init provisions cfg.Devices devices under cfg.Dir and writes the
// device roots file (RootsFile, returned) for `fpemu server
// --device-roots`.
func Init(ctx context.Context, cfg InitConfig) (string, error) {
	if cfg.Devices < 1 || cfg.Devices > MaxDevices || cfg.CA == nil || cfg.ServerName == "" || cfg.Dir == "" {
		return "", fmt.Errorf("%w: want a directory, 1..%d devices, a CA and a server name", ErrConfig, MaxDevices)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return "", err
	}
	anchors, err := payproto.TrustAnchors{ServerName: cfg.ServerName, Roots: [][]byte{cfg.CA.Root().Raw}}.Marshal()
	if err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(cfg.Dir, anchorsFile), anchors, 0o600); err != nil {
		return "", err
	}
	var roots []byte
	for i := range cfg.Devices {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		d, err := openDevice(ctx, cfg.Dir, i, anchors, true)
		if err != nil {
			return "", err
		}
		pem, err := d.provision(ctx, cfg.Dir, cfg.CA)
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("load: provisioning device %d: %w", i, err)
		}
		roots = append(roots, pem...)
		if cfg.OnProgress != nil {
			cfg.OnProgress(Progress{Stage: "provision", Done: i + 1, Total: cfg.Devices})
		}
	}
	path := filepath.Join(cfg.Dir, RootsFile)
	return path, writeAtomic(path, roots, 0o644)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Config is one run.
type Config struct {
	// Dir is a load directory Init provisioned with at least Devices.
	Dir string
	// Devices pay concurrently, one channel connection each, device i to
	// Servers[i % len(Servers)].
	Devices int
	// Payments is the total number of orders paid, taken from a shared
	// queue by whichever device is free.
	Payments int
	// Servers are `fpemu server` channel addresses (host:port).
	Servers []string
	// HTTP is one server's merchant API (host:port): the orders are
	// created there before the timed part (with several servers on one
	// PostgreSQL database any of them will do).
	HTTP string
	// Profile is the channel profile (default gm-fs).
	Profile chanwire.Profile
	// Timeout bounds each request round trip (default 30 s).
	Timeout time.Duration
	// OnProgress, if set, is called as stages advance (from several
	// goroutines, serialised by Run).
	OnProgress func(Progress)
}

// Report is a run's result.
type Report struct {
	Devices  int      `json:"devices"`
	Servers  []string `json:"servers"`
	Payments int      `json:"payments"`
	Booked   int      `json:"booked"`
	// Refused counts payments refused by the server, by rule.
	Refused map[string]int `json:"refused,omitempty"`
	// Errors counts payments that failed before a verdict (transport, TA).
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// PerServer counts booked payments by server address.
	PerServer map[string]int `json:"per_server"`
	// Elapsed is the timed part: from the first payment's start (all
	// devices connected and registered) to the last one's end.
	Elapsed   Duration `json:"elapsed"`
	PerSecond float64  `json:"payments_per_second"`
	// Latency of one booked payment as the app sees it: challenge and
	// signed summary, BEGIN_PAYMENT, the fingerprint match relayed,
	// CHANNEL_SEAL_PAYMENT, the feedback opened and verified by the TA.
	P50  Duration `json:"p50"`
	P90  Duration `json:"p90"`
	P99  Duration `json:"p99"`
	Max  Duration `json:"max"`
	Mean Duration `json:"mean"`
}

// Duration marshals as seconds (float) in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

func (d Duration) String() string { return time.Duration(d).Round(10 * time.Microsecond).String() }

// OK reports whether every payment was booked.
func (r *Report) OK() bool { return r.Booked == r.Payments && r.Errors == 0 && len(r.Refused) == 0 }

func (c *Config) check() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: no load directory", ErrConfig)
	case c.Devices < 1 || c.Devices > MaxDevices:
		return fmt.Errorf("%w: devices must be 1..%d", ErrConfig, MaxDevices)
	case c.Payments < 1 || c.Payments > MaxPayments:
		return fmt.Errorf("%w: payments must be 1..%d", ErrConfig, MaxPayments)
	case len(c.Servers) == 0:
		return fmt.Errorf("%w: no server", ErrConfig)
	case c.HTTP == "":
		return fmt.Errorf("%w: no merchant API address", ErrConfig)
	}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("%w: server %q: %v", ErrConfig, s, err)
		}
	}
	if c.Profile == 0 {
		c.Profile = chanwire.ProfileGMFS
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return nil
}

// Run boots cfg.Devices devices, creates cfg.Payments merchant orders,
// connects and registers every device, then pays every order and
// reports. Every device, socket and connection is closed before it
// returns. An error means the run could not be made (nothing to report);
// payments that were not booked are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	anchors, err := os.ReadFile(filepath.Join(cfg.Dir, anchorsFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotProvisioned, err)
	}
	var progMu sync.Mutex
	progress := func(stage string, done, total int) {
		if cfg.OnProgress != nil {
			progMu.Lock()
			cfg.OnProgress(Progress{Stage: stage, Done: done, Total: total})
			progMu.Unlock()
		}
	}

	devs := make([]*Device, 0, cfg.Devices)
	defer func() {
		for _, d := range devs {
			_ = d.Close()
		}
	}()
	for i := range cfg.Devices {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := openDevice(ctx, cfg.Dir, i, anchors, false)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
		progress("boot", i+1, cfg.Devices)
	}

	orders, err := createOrders(ctx, cfg, func(n int) { progress("orders", n, cfg.Payments) })
	if err != nil {
		return nil, err
	}

	clients := make([]*client, len(devs))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
	}()
	for i, d := range devs {
		c := &client{dev: d, server: cfg.Servers[i%len(cfg.Servers)], cfg: &cfg}
		if err := c.connect(ctx); err != nil {
			return nil, fmt.Errorf("load: device %d to %s: %w", i, c.server, err)
		}
		if err := c.ch.RegisterWithServer(ctx, d.Reg, Fingers); err != nil {
			return nil, fmt.Errorf("load: device %d registering with %s: %w", i, c.server, err)
		}
		clients[i] = c
		progress("connect", i+1, len(devs))
	}

	queue := make(chan string, len(orders))
	for _, o := range orders {
		queue <- o
	}
	close(queue)
	var (
		done    atomic.Int64
		wg      sync.WaitGroup
		results = make([][]outcome, len(clients))
	)
	progress("pay", 0, len(orders))
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range queue {
				if ctx.Err() != nil {
					return
				}
				results[i] = append(results[i], c.pay(ctx, o))
				progress("pay", int(done.Add(1)), len(orders))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return report(cfg, slices.Concat(results...), elapsed), nil
}

// outcome is one payment's result.
type outcome struct {
	server  string
	latency time.Duration
	rule    wire.Rule // RuleOK: booked
	err     error
}

func report(cfg Config, outs []outcome, elapsed time.Duration) *Report {
	r := &Report{Devices: cfg.Devices, Servers: cfg.Servers, Payments: cfg.Payments, PerServer: map[string]int{},
		Elapsed: Duration(elapsed)}
	var lat []time.Duration
	var sum time.Duration
	for _, o := range outs {
		switch {
		case o.err != nil:
			r.Errors++
			if r.FirstError == "" {
				r.FirstError = o.err.Error()
			}
		case o.rule != wire.RuleOK:
			if r.Refused == nil {
				r.Refused = map[string]int{}
			}
			r.Refused[o.rule.String()]++
		default:
			r.Booked++
			r.PerServer[o.server]++
			lat = append(lat, o.latency)
			sum += o.latency
		}
	}
	if elapsed > 0 {
		r.PerSecond = float64(r.Booked) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.P50, r.P90, r.P99 = Duration(percentile(lat, 50)), Duration(percentile(lat, 90)), Duration(percentile(lat, 99))
		r.Max, r.Mean = Duration(lat[len(lat)-1]), Duration(sum/time.Duration(len(lat)))
	}
	return r
}

// percentile is the nearest-rank percentile p of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// client is one device's payment app: its channel connection to one
// server.
type client struct {
	dev    *Device
	server string
	cfg    *Config
	conn   net.Conn
	ch     *drive.Channel
	seq    int
}

func (c *client) connect(ctx context.Context) error {
	c.close()
	d := net.Dialer{Timeout: c.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", c.server)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(c.cfg.Timeout))
	ch, err := drive.Connect(ctx, c.dev.Pay, conn, c.cfg.Profile)
	if err != nil {
		_ = conn.Close()
		return err
	}
	c.conn, c.ch = conn, ch
	return nil
}

func (c *client) close() {
	if c.ch != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = c.ch.Close(ctx)
		cancel()
		c.ch = nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// pay pays order: the timed part of a run. A failure before a verdict
// drops the connection; the next payment reconnects.
func (c *client) pay(ctx context.Context, order string) outcome {
	out := outcome{server: c.server}
	if c.ch == nil {
		if err := c.connect(ctx); err != nil {
			out.err = fmt.Errorf("reconnect: %w", err)
			return out
		}
	}
	c.seq++
	start := time.Now()
	_ = c.conn.SetDeadline(start.Add(c.cfg.Timeout))
	fb, err := c.payOnce(ctx, order)
	out.latency = time.Since(start)
	var refused *drive.ServerRefused
	switch {
	case errors.As(err, &refused):
		out.rule = refused.Rule
	case err != nil:
		out.err = fmt.Errorf("device %d, order %s: %w", c.dev.Index, order, err)
		c.close()
	default:
		out.rule = fb.Rule
	}
	return out
}

func (c *client) payOnce(ctx context.Context, order string) (wire.Feedback, error) {
	_, sum, err := c.ch.ServerChallenge(ctx, order)
	if err != nil {
		return wire.Feedback{}, err
	}
	op, err := payproto.BeginPayment{Ref: SceneRef}.Execute(ctx, c.dev.Pay)
	if err != nil {
		return wire.Feedback{}, fmt.Errorf("BEGIN_PAYMENT: %w", err)
	}
	if err := c.dev.Touch(ctx, op); err != nil {
		return wire.Feedback{}, fmt.Errorf("fingerprint match: %w", err)
	}
	req := fmt.Appendf(nil, "load-%d-%d-%s", c.dev.Index, c.seq, order)
	return c.ch.PayOrder(ctx, SceneRef, op, sum, req)
}

// createOrders creates cfg.Payments orders through the merchant API, four
// at a time, each with its own Idempotency-Key.
func createOrders(ctx context.Context, cfg Config, progress func(int)) ([]string, error) {
	var run [8]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, err
	}
	runID := hex.EncodeToString(run[:])
	ids := make([]string, cfg.Payments)
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Payments || ctx.Err() != nil {
					return
				}
				id, err := createOrder(ctx, cfg.Timeout, cfg.HTTP, fmt.Sprintf("load-%s-%d", runID, i), i)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					next.Store(int64(cfg.Payments))
					return
				}
				ids[i] = id
				progress(int(done.Add(1)))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("load: creating orders at %s: %w", cfg.HTTP, firstErr)
	}
	return ids, ctx.Err()
}

// createOrder is load order i (POST /v1/orders, payserver.CreateOrder),
// bounded by timeout.
func createOrder(ctx context.Context, timeout time.Duration, base, key string, i int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o, _, err := payserver.CreateOrder(ctx, base, key, payserver.OrderRequest{Payee: "load-merchant", Amount: int64(100 + i%900),
		Currency: "CNY", Summary: fmt.Sprintf("load order %d", i)})
	if err != nil {
		return "", err
	}
	if o.ID == "" {
		return "", errors.New("POST /v1/orders: no order id")
	}
	return o.ID, nil
}
