package fingerprint

import (
	"cmp"
	"context"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tee/tatest/tafixture"
	"github.com/fpemu/fpemu/tokens"
)

// device is one emulated device for tests: storage key, pairwise envelope
// keys, Keymaster's sealer and per-boot auth-token key, a fake boot clock,
// and a database path that survives TA restarts.
type device struct {
	*tatest.Device
	hatKey  []byte
	mac     *tokens.MAC
	payment *envelope.Opener // the payment TA's view of the fingerprint route
}

func newDevice(t testing.TB) *device {
	t.Helper()
	d := &device{Device: tatest.NewDevice(t, 5_000_000), hatKey: randBytes(t, tokens.KeySize)}
	var err error
	d.mac, err = tokens.NewMAC(tokens.HMACSHA256, d.hatKey)
	require.NoError(t, err)
	d.payment, err = envelope.NewOpener(tee.UUIDPayment, d.Keys.For(tee.UUIDPayment), envelope.NewMemoryGuard())
	require.NoError(t, err)
	return d
}

func randBytes(t testing.TB, n int) []byte { return tatest.Rand(t, n) }

// nanoClock drives envelope sequence numbers from the fake boot clock, as
// boot.Clock does on a device: a restarted sender continues above the
// numbers it issued once the clock has moved on.
type nanoClock struct{ c *tee.FakeClock }

func (n nanoClock) NowNs() uint64 { return n.c.NowMs() * 1_000_000 }

func (d *device) config(t testing.TB, s *sensor.Sensor) Config {
	t.Helper()
	sealer, err := envelope.NewSealer(tee.UUIDFingerprint, d.Keys.For(tee.UUIDFingerprint), nanoClock{d.Clock})
	require.NoError(t, err)
	hook, err := bio.NewSender(sealer, d.Clock)
	require.NoError(t, err)
	return Config{
		Config: tafixture.Config(d.Device, tee.UUIDFingerprint, "fingerprint.db"),
		Sensor: s,
		Hook:   hook,
	}
}

// open starts the TA on the device's database (a TA process (re)start).
func (d *device) open(t testing.TB) *TA {
	t.Helper()
	return tatest.Start(t, NewTA, d.config(t, sensor.New()))
}

// keyEnvelope is Keymaster's answer to GET_AUTH_TOKEN_KEY(fingerprint).
func (d *device) keyEnvelope(t testing.TB) []byte {
	t.Helper()
	return d.KeyEnvelope(t, tee.UUIDFingerprint, d.hatKey)
}

// passwordHAT is what Gatekeeper VERIFY returns for sid and challenge now.
func (d *device) passwordHAT(challenge, sid uint64) []byte {
	return keymastertest.Mint(d.mac, keymastertest.HAT{
		Challenge: challenge, UserID: sid, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs(),
	})
}

// bench is a TA reached over real Unix sockets: a command session, an
// event session (as a HAL pumps NEXT_EVENT) and the sensor-control
// endpoint.
type bench struct {
	d      *device
	ta     *TA
	cmd    rpc.Invoker
	ev     rpc.Invoker
	sensor sensorproto.Client
}

// serve hosts ta on its sockets.
func (d *device) serve(t testing.TB, ta *TA) *bench {
	t.Helper()
	return &bench{
		d:      d,
		ta:     ta,
		cmd:    tatest.ServeUnix(t, tee.UUIDFingerprint, ta),
		ev:     tatest.ServeUnix(t, tee.UUIDFingerprint, ta),
		sensor: sensorproto.Client{Invoker: tatest.ServeUnix(t, sensorproto.UUID, sensor.NewControlTA(ta.Sensor()))},
	}
}

// ready opens the TA, serves it and delivers the auth-token key.
func (d *device) ready(t testing.TB) *bench {
	t.Helper()
	b := d.serve(t, d.open(t))
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))
	return b
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// next returns the next event, failing the test if none comes within 5 s.
func (b *bench) next(t testing.TB) fpproto.Event {
	t.Helper()
	e, _, err := fpproto.NextEvent{Wait: 5 * time.Second}.Execute(ctx(t), b.ev)
	require.NoError(t, err)
	require.NotEqual(t, fpproto.MsgNone, e.Type, "no event within 5 s")
	return e
}

// until collects events up to and including the first for which stop is
// true.
func (b *bench) until(t testing.TB, stop func(fpproto.Event) bool) []fpproto.Event {
	t.Helper()
	var out []fpproto.Event
	for range 200 {
		e := b.next(t)
		out = append(out, e)
		if stop(e) {
			return out
		}
	}
	t.Fatalf("no terminal event among %v", out)
	return nil
}

// quiet asserts that no event is queued.
func (b *bench) quiet(t testing.TB) {
	t.Helper()
	e, _, err := fpproto.NextEvent{}.Execute(ctx(t), b.ev)
	require.NoError(t, err)
	require.Equal(t, fpproto.MsgNone, e.Type, "unexpected event %v", e)
}

func isError(e fpproto.Event) bool { return e.Type == fpproto.MsgError }

func enrollEnd(e fpproto.Event) bool {
	return e.Type == fpproto.MsgError || (e.Type == fpproto.MsgTemplateEnrolling && e.Remaining == 0)
}

func authEnd(e fpproto.Event) bool {
	return e.Type == fpproto.MsgError || (e.Type == fpproto.MsgAuthenticated && e.FingerID != 0)
}

// statusRequest is every request type answered with a RequestStatus.
type statusRequest interface {
	Execute(context.Context, rpc.Invoker) (fpproto.RequestStatus, error)
}

// do runs req on the command session.
func (b *bench) do(t testing.TB, req statusRequest) fpproto.RequestStatus {
	t.Helper()
	st, err := req.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	return st
}

// preEnroll runs PRE_ENROLL on the command session: the enrollment
// challenge.
func (b *bench) preEnroll(t testing.TB) uint64 {
	t.Helper()
	c, err := fpproto.PreEnroll{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	return c
}

// present queues samples on the sensor.
func (b *bench) present(t testing.TB, ss ...matcher.Sample) {
	t.Helper()
	for _, s := range ss {
		require.NoError(t, b.sensor.Present(ctx(t), s))
	}
}

// enroll runs a whole enrollment of finger f for sid in gid and returns
// the finger id.
func (b *bench) enroll(t testing.TB, gid uint32, sid uint64, f []matcher.Minutia) uint32 {
	t.Helper()
	c := b.preEnroll(t)
	b.present(t, enrollSamples(f, uint64(gid)<<8|uint64(sid&0xff))...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enroll{HAT: b.d.passwordHAT(c, sid), GID: gid, TimeoutSec: 10}))
	evs := b.until(t, enrollEnd)
	last := evs[len(evs)-1]
	require.Equal(t, fpproto.MsgTemplateEnrolling, last.Type, "enrollment failed: %v", evs)
	require.NotZero(t, last.FingerID)
	b.do(t, fpproto.PostEnroll{})
	return last.FingerID
}

// authenticate runs AUTHENTICATE with the given probes queued and returns
// the events up to the operation's end.
func (b *bench) authenticate(t testing.TB, opID uint64, gid uint32, probes ...matcher.Sample) []fpproto.Event {
	t.Helper()
	b.present(t, probes...)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: opID, GID: gid}))
	return b.until(t, authEnd)
}

// templates reads gid's stored templates straight from the store.
func templates(t testing.TB, ta *TA, gid uint32) []enrolled {
	t.Helper()
	var out []enrolled
	require.NoError(t, ta.Store.View(context.Background(), func(tx *store.Tx) error {
		var err error
		out, err = loadTemplates(tx, gid)
		return err
	}))
	return out
}

// Synthetic fingers for TA tests: a bare random minutiae set (TA-side code
// does not import the sim/finger model), impressed with a rigid move and
// jitter, the way ta/fingerprint/matcher's own tests do.

func testFinger(seed uint64) []matcher.Minutia {
	r := mrand.New(mrand.NewPCG(seed, 42))
	var ms []matcher.Minutia
	for len(ms) < 90 {
		x, y := r.Float64()*320-160, r.Float64()*420-210
		ok := true
		for _, m := range ms {
			if math.Hypot(m.X-x, m.Y-y) < 10 {
				ok = false
				break
			}
		}
		if ok {
			ms = append(ms, matcher.Minutia{
				X: x, Y: y, Angle: r.Float64() * 2 * math.Pi,
				Kind: matcher.RidgeEnding + matcher.Kind(r.IntN(2)), Quality: uint8(40 + r.IntN(61)),
			})
		}
	}
	return ms
}

// impress places finger point (cx, cy) on the centre of a 200×200 window,
// turned by rot radians, with 1 px jitter.
func impress(f []matcher.Minutia, cx, cy, rot float64, noise uint64) matcher.Sample {
	r := mrand.New(mrand.NewPCG(noise, 7))
	s, c := math.Sincos(rot)
	out := matcher.Sample{Width: 200, Height: 200}
	for _, m := range f {
		dx, dy := m.X-cx, m.Y-cy
		x := c*dx - s*dy + 100 + r.NormFloat64()
		y := s*dx + c*dy + 100 + r.NormFloat64()
		if x < 0 || y < 0 || x >= 200 || y >= 200 {
			continue
		}
		out.Minutiae = append(out.Minutiae, matcher.Minutia{
			X: x, Y: y, Angle: matcher.NormAngle(m.Angle + rot + r.NormFloat64()/40), Kind: m.Kind, Quality: m.Quality,
		})
	}
	slices.SortFunc(out.Minutiae, func(a, b matcher.Minutia) int {
		return cmp.Or(cmp.Compare(a.Y, b.Y), cmp.Compare(a.X, b.X))
	})
	return out
}

func enrollSamples(f []matcher.Minutia, noise uint64) []matcher.Sample {
	var ss []matcher.Sample
	for k, off := range [][2]float64{{0, 0}, {40, 0}, {-40, 0}, {0, 40}, {0, -40}, {30, 30}, {-30, -30}, {5, -5}} {
		ss = append(ss, impress(f, off[0], off[1], 0.03*float64(k-3), noise*16+uint64(k)))
	}
	return ss
}

func probe(f []matcher.Minutia, noise uint64) matcher.Sample {
	return impress(f, 10, -15, 0.04, 1_000_000+noise)
}
