package keymaster_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster"
	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tee/tatest"
)

// device is an in-process Keymaster TA with a fake boot clock and test
// envelope keys: the in-process half of a device, for this package's tests
// and benchmarks. (The auth tests themselves, keymastertest, need only an
// rpc.Invoker and kmproto.)
type device struct {
	TA    *keymaster.TA
	Clock *tee.FakeClock
	Keys  envelope.Keyring
}

// newDevice builds a Keymaster TA from a test keyring, a fixed test
// storage key and a FakeClock at 1 000 000 ms.
func newDevice(t testing.TB) *device {
	t.Helper()
	keys := keymastertest.TestKeyring(1)
	sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
	require.NoError(t, err)
	var sk boot.StorageKey
	for i := range sk {
		sk[i] = byte(0xA0 + i)
	}
	clock := tee.NewFakeClock(1_000_000)
	ta, err := keymaster.NewTA(keymaster.Config{Config: tacore.Config{Self: tee.UUIDKeymaster, StorageKey: sk[:], Clock: clock}, Sealer: sealer})
	require.NoError(t, err)
	return &device{TA: ta, Clock: clock, Keys: keys}
}

// Gatekeeper returns an envelope Opener of the gatekeeper TA, as the
// gatekeeper holds it on this device.
func (d *device) Gatekeeper(t testing.TB) *envelope.Opener {
	t.Helper()
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, d.Keys, envelope.NewMemoryGuard())
	require.NoError(t, err)
	return o
}

// direct calls a TA session in process, with no transport.
type direct struct{ s rpc.TASession }

func (d direct) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return d.s.Invoke(ctx, cmd, p)
}

// Direct opens a TA session called in process (no socket, no codec). The
// session is closed when the test ends.
func (d *device) Direct(t testing.TB) rpc.Invoker {
	t.Helper()
	s, err := d.TA.OpenSession(context.Background(), &tee.Params{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return direct{s}
}

// Serve hosts the TA on a Unix socket in a temporary directory (tee/rpc
// server, same process) and returns a client session on it. Server,
// client and socket are torn down when the test ends.
func (d *device) Serve(t testing.TB) rpc.Invoker {
	t.Helper()
	return tatest.ServeUnix(t, tee.UUIDKeymaster, d.TA)
}

// Env returns the auth-test environment for inv on this device. With
// advance, expiry is tested by moving the fake clock; without, by
// back-dating tokens (as across processes, where the clock is real).
func (d *device) Env(t testing.TB, inv rpc.Invoker, advance bool) keymastertest.Env {
	e := keymastertest.Env{Invoker: inv, Gatekeeper: d.Gatekeeper(t), NowMs: d.Clock.NowMs}
	if advance {
		e.Advance = d.Clock.Advance
	}
	return e
}
