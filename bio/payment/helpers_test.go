package payment

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tee/tatest/tafixture"
)

const (
	testApp   = "com.example.wallet"
	testScene = "pay"
)

var sceneRef = payproto.KeyRef{AppID: testApp, Scene: testScene}

// device is one emulated boot for tests: storage key, envelope keys, boot
// id, fake clock, the fingerprint TA's bio hook (a real bio.Sender) and
// Keymaster's sealer, and a database path that survives TA restarts.
type device struct {
	*tatest.Device
	fp       *bio.Sender
	fpSealer *envelope.Sealer
	counter  *store.MemCounter
}

func randBytes(t testing.TB, n int) []byte { return tatest.Rand(t, n) }

func newDevice(t testing.TB) *device {
	t.Helper()
	d := &device{Device: tatest.NewDevice(t, 1_000_000), counter: store.NewMemCounter(0)}
	var err error
	d.fpSealer, err = envelope.NewSealer(tee.UUIDFingerprint, d.Keys.For(tee.UUIDFingerprint), nil)
	require.NoError(t, err)
	d.fp, err = bio.NewSender(d.fpSealer, d.Clock)
	require.NoError(t, err)
	return d
}

func (d *device) config() Config {
	c := tafixture.Config(d.Device, tee.UUIDPayment, "payment.db")
	c.StoreOptions = []store.Option{store.WithCounter(d.counter)}
	return Config{Config: c}
}

// open starts the TA on the device's database (a TA (re)start).
func (d *device) open(t testing.TB) *TA {
	t.Helper()
	return tatest.Start(t, NewTA, d.config())
}

// drain returns the one envelope the fingerprint hook has pending.
func (d *device) drain(t testing.TB) []byte {
	t.Helper()
	envs := d.fp.Drain(0)
	require.Len(t, envs, 1)
	return envs[0]
}

// fingerList is the fingerprint TA reporting its enrolled set of gid.
func (d *device) fingerList(t testing.TB, gid uint32, authID uint64, fids ...uint32) []byte {
	t.Helper()
	require.NoError(t, d.fp.SetFingerList(gid, authID, fids))
	return d.drain(t)
}

// registeredTA is a registered TA (group 0, fingers 1 and 2, ownerA's app
// and scene keys) called in process, without a transport.
func registeredTA(tb testing.TB) (*device, *TA) {
	tb.Helper()
	d := newDevice(tb)
	ta := d.open(tb)
	ctx := context.Background()
	_, err := ta.Deliver(ctx, d.fingerList(tb, 0, 0xA1, 1, 2))
	require.NoError(tb, err)
	_, err = ta.CreateAppKey(ctx, ownerA, testApp)
	require.NoError(tb, err)
	_, err = ta.CreateSceneKey(ctx, ownerA, sceneRef, 0)
	require.NoError(tb, err)
	return d, ta
}

// match is the fingerprint TA reporting a match of fid in gid for
// operation id op (bio_set_auth_result).
func (d *device) match(t testing.TB, gid uint32, authID uint64, fid uint32, op uint64) []byte {
	t.Helper()
	require.NoError(t, d.fp.SetAuthResult(bio.ResultSuccess, fid, op,
		bio.Match{UserID: 0x5ec0de, AuthenticatorID: authID, GroupID: gid, SensorVersion: 0x00010002}))
	return d.drain(t)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serve runs ta behind a real tee/rpc host on a Unix socket and returns a
// session on it logged in as the test process's user (TEEC_LOGIN_USER).
func serve(t *testing.T, ta *TA) *rpc.Session {
	t.Helper()
	return tatest.ServeUnix(t, tee.UUIDPayment, ta, rpc.AsUser())
}

// Two client identities for in-process calls (the TA methods take the
// owner directly; over a socket the host derives it, see serve).
var (
	ownerA = tee.MustParseUUID("fc34275c-d8dd-5ba7-968b-504718363b87") // uid=3e8
	ownerB = tee.MustParseUUID("a51aa430-d8bb-5880-9c5c-65ad1a49bb75") // uid=3e9
)

// deliver relays env over inv and requires success.
func deliver(t testing.TB, inv rpc.Invoker, env []byte) payproto.Delivery {
	t.Helper()
	d, err := payproto.Deliver{Envelope: env}.Execute(testCtx(t), inv)
	require.NoError(t, err)
	return d
}

// registeredSession is a new device whose payment TA is served over a Unix
// socket and registered (registered): the start of most tests.
func registeredSession(t *testing.T) (*device, *rpc.Session) {
	t.Helper()
	d := newDevice(t)
	s := serve(t, d.open(t))
	registered(t, d, s)
	return d, s
}

// authorized runs BEGIN_PAYMENT on the scene key and delivers the auth
// result that authorises it: finger 1 of group 0, authenticator id 0xA1,
// the group registered sets up. It returns the payment's challenge.
func authorized(t *testing.T, d *device, inv rpc.Invoker) uint64 {
	t.Helper()
	c := begin(t, inv, sceneRef)
	deliver(t, inv, d.match(t, 0, 0xA1, 1, c))
	return c
}

// registered sets up group 0 with fingers 1, 2 (authenticator id 0xA1),
// an app key and a scene key, and returns the verified chain's scene
// certificate.
func registered(t *testing.T, d *device, inv rpc.Invoker) proof.Cert {
	t.Helper()
	ctx := testCtx(t)
	deliver(t, inv, d.fingerList(t, 0, 0xA1, 1, 2))
	dev, err := payproto.GetDeviceCert{}.Execute(ctx, inv)
	require.NoError(t, err)
	app, err := payproto.CreateAppKey{AppID: testApp}.Execute(ctx, inv)
	require.NoError(t, err)
	scene, err := payproto.CreateSceneKey{Ref: sceneRef, GroupID: 0}.Execute(ctx, inv)
	require.NoError(t, err)
	_, _, sc, err := proof.VerifyChain(dev, app, scene)
	require.NoError(t, err)
	return sc
}
