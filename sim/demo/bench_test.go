package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
)

// The end-to-end benchmarks measure one fingerprint payment across the
// real processes of a demo device (sensor latency 0, so only the
// emulator's own time counts): from the HAL's authenticate(operation_id =
// the server's challenge) to the signed statement in the app's hands, and
// the server's offline check. Run them with a fixed iteration count so the
// percentiles rest on enough samples:
//
//	go test -run='^$' -bench=. -benchtime=1000x -benchmem ./sim/demo/

// setupThrough boots a demo device and runs the scenario up to and
// including the step whose name starts with last; the device is torn down
// at the end of the test.
func setupThrough(tb testing.TB, last string) (*runner, context.Context) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	tb.Cleanup(cancel)
	r, err := newRunner(testConfig(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.close(); err != nil {
			tb.Error(err)
		}
	})
	for _, s := range scenario {
		if err := r.step(ctx, s.name, s.run); err != nil {
			tb.Fatalf("setup step %q: %v", s.name, err)
		}
		if strings.HasPrefix(s.name, last) {
			return r, ctx
		}
	}
	tb.Fatalf("no step %q in the scenario", last)
	return nil, nil
}

// benchSetup enrolls the fingers and registers the payment keys.
func benchSetup(b *testing.B) (*runner, context.Context) {
	b.Helper()
	return setupThrough(b, "payment app registers")
}

// nextPayment begins a payment and puts sample on the sensor, outside
// the timer: each iteration then times one authentication → signature.
func nextPayment(b *testing.B, ctx context.Context, r *runner, sample sensorproto.Sample) uint64 {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	c, err := r.app().Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.sen.Present(ctx, sample); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchSamples renders n genuine touches of the first enrolled finger. The
// matcher is deterministic, so samples that match once match every time;
// the first iteration checks that they do.
func benchSamples(b *testing.B, r *runner, n int) []sensorproto.Sample {
	b.Helper()
	out := make([]sensorproto.Sample, n)
	for i := range out {
		s, err := r.fingers[0].Impress(finger.DefaultSensor, genuinePlacement(uint64(1000+i)))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// hops collects one duration per iteration for each named hop.
type hops struct {
	names []string
	d     map[string][]time.Duration
}

func newHops(names ...string) *hops {
	h := &hops{names: names, d: map[string][]time.Duration{}}
	for _, n := range names {
		h.d[n] = make([]time.Duration, 0, 1024)
	}
	return h
}

func (h *hops) add(name string, d time.Duration) { h.d[name] = append(h.d[name], d) }

// percentile returns the p-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// report attaches p50 and p99 of every hop as custom metrics
// ("<hop>-p50-ms", "<hop>-p99-ms").
func (h *hops) report(b *testing.B) {
	for _, n := range h.names {
		b.ReportMetric(ms(percentile(h.d[n], 0.50)), n+"-p50-ms")
		b.ReportMetric(ms(percentile(h.d[n], 0.99)), n+"-p99-ms")
	}
}

// BenchmarkAuthenticateToSignedPayment is one fingerprint payment as the
// payment app sees it, through the HAL process:
//
//	hal      authenticate(challenge) answered SYS_OK (gRPC → HAL → TA AUTHENTICATE)
//	match    until onAuthenticated(fid, HAT): capture, match, HAT mint, bio
//	         result sealed, NEXT_EVENT, the HAL's relay of the bio result to
//	         the payment TA (FETCH_OUTBOX → DELIVER, before the callback), gRPC
//	         callback stream
//	sign     SIGN_PAYMENT, called once at onAuthenticated (a NOT_AUTHORIZED
//	         fails the benchmark: the payment TA must hold the result by then)
//	e2e      authenticate → signed statement (the three above)
//	verify   the server's offline proof.VerifyPayment (not in e2e)
//
// The touch is put on the sensor before the clock starts.
func BenchmarkAuthenticateToSignedPayment(b *testing.B) {
	r, ctx := benchSetup(b)
	samples := benchSamples(b, r, 8)
	payload := []byte("order: 12.34 CNY to merchant 42")
	h := newHops("e2e", "hal", "match", "sign", "verify")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := nextPayment(b, ctx, r, samples[i%len(samples)])
		t0 := time.Now()
		st, err := r.hc.Authenticate(ctx, c, gid)
		if err != nil || st != hidl.SysOK {
			b.Fatalf("authenticate: %v %v", st, err)
		}
		t1 := time.Now()
		var hat []byte
		for hat == nil {
			cb, err := r.cbs.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			switch x := cb.(type) {
			case hidl.OnAcquired:
			case hidl.OnAuthenticated:
				if x.Rejected() {
					b.Fatalf("iteration %d: genuine sample %d rejected", i, i%len(samples))
				}
				hat = x.Token
			default:
				b.Fatalf("unexpected %v", cb)
			}
		}
		t2 := time.Now()
		if _, err := checkHAT(hat, c, r.sid, r.authID); err != nil {
			b.Fatal(err)
		}
		s, err := r.signAtCallback(ctx, c, payload)
		if err == nil {
			err = s.err
		}
		if err != nil {
			b.Fatalf("iteration %d: %v", i, err)
		}
		t4 := s.start.Add(s.call)
		if _, err := proof.VerifyPayment(s.statement, r.reg.SceneCert, c, payload); err != nil {
			b.Fatal(err)
		}
		t5 := time.Now()
		h.add("e2e", t4.Sub(t0))
		h.add("hal", t1.Sub(t0))
		h.add("match", t2.Sub(t1))
		h.add("sign", s.call)
		h.add("verify", t5.Sub(t4))
	}
	b.StopTimer()
	h.report(b)
}

// BenchmarkPaymentHops is the same payment with the HAL process stopped
// and the benchmark playing it, so that each hop is one measured command:
//
//	authenticate   AUTHENTICATE(challenge) answered (CA→TA round trip)
//	match          NEXT_EVENT until AUTHENTICATED: capture, match, HAT mint,
//	               bio result sealed into the outbox
//	fetch          FETCH_OUTBOX: the sealed auth result
//	deliver        DELIVER to the payment TA: open, replay mark committed, held
//	sign           SIGN_PAYMENT: counter committed, SM2 signature
//	total          the five above
func BenchmarkPaymentHops(b *testing.B) {
	r, ctx := benchSetup(b)
	samples := benchSamples(b, r, 8)
	// The benchmark becomes the fingerprint TA's only REE client.
	r.cbs.Close()
	_ = r.hc.Close()
	r.cbs, r.hc = nil, nil
	if err := r.dev.StopHAL(ctx); err != nil {
		b.Fatal(err)
	}
	cmdS := openFingerprint(b, ctx, r.dev)
	evS := openFingerprint(b, ctx, r.dev)
	payload := []byte("order: 12.34 CNY to merchant 42")
	h := newHops("total", "authenticate", "match", "fetch", "deliver", "sign")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := nextPayment(b, ctx, r, samples[i%len(samples)])
		t0 := time.Now()
		st, err := fpproto.Authenticate{OperationID: c, GID: gid}.Execute(ctx, cmdS)
		if err != nil || st != fpproto.SysOK {
			b.Fatalf("AUTHENTICATE: %v %v", st, err)
		}
		t1 := time.Now()
		for {
			e, _, err := fpproto.NextEvent{Wait: 10 * time.Second}.Execute(ctx, evS)
			if err != nil {
				b.Fatal(err)
			}
			if e.Type == fpproto.MsgAuthenticated && e.FingerID != 0 {
				break
			}
			if e.Type != fpproto.MsgAcquired {
				b.Fatalf("iteration %d: %v", i, e)
			}
		}
		t2 := time.Now()
		envs, _, err := fpproto.FetchOutbox{}.Execute(ctx, cmdS)
		if err != nil || len(envs) != 1 {
			b.Fatalf("FETCH_OUTBOX: %d envelopes, %v", len(envs), err)
		}
		t3 := time.Now()
		if _, err := (payproto.Deliver{Envelope: envs[0]}).Execute(ctx, r.pay); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if _, err := (payproto.SignPayment{Ref: sceneRef, Challenge: c, Payload: payload}).Execute(ctx, r.pay); err != nil {
			b.Fatal(err)
		}
		t5 := time.Now()
		h.add("total", t5.Sub(t0))
		h.add("authenticate", t1.Sub(t0))
		h.add("match", t2.Sub(t1))
		h.add("fetch", t3.Sub(t2))
		h.add("deliver", t4.Sub(t3))
		h.add("sign", t5.Sub(t4))
	}
	b.StopTimer()
	h.report(b)
}

func openFingerprint(b *testing.B, ctx context.Context, d *device.Stack) *device.Session {
	b.Helper()
	s, err := d.OpenSession(ctx, tee.RoleFingerprint)
	if err != nil {
		b.Fatal(fmt.Errorf("session on the fingerprint TA: %w", err))
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}
