package keymastertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Device is an in-process Keymaster TA with a fake boot clock and test
// envelope keys: the in-process half of a device, for tests and
// benchmarks.
type Device struct {
	TA    *keymaster.TA
	Clock *tee.FakeClock
	Keys  envelope.Keyring
}

// NewDevice builds a Keymaster TA from a test keyring, a fixed test
// storage key and a FakeClock at 1 000 000 ms.
func NewDevice(t testing.TB) *Device {
	t.Helper()
	keys := TestKeyring(1)
	sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
	require.NoError(t, err)
	var sk boot.StorageKey
	for i := range sk {
		sk[i] = byte(0xA0 + i)
	}
	clock := tee.NewFakeClock(1_000_000)
	ta, err := keymaster.NewTA(keymaster.Config{Self: tee.UUIDKeymaster, StorageKey: sk, Sealer: sealer, Clock: clock})
	require.NoError(t, err)
	return &Device{TA: ta, Clock: clock, Keys: keys}
}

// Gatekeeper returns an envelope Opener of the gatekeeper TA, as the
// gatekeeper holds it on this device.
func (d *Device) Gatekeeper(t testing.TB) *envelope.Opener {
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
func (d *Device) Direct(t testing.TB) rpc.Invoker {
	t.Helper()
	s, err := d.TA.OpenSession(context.Background(), &tee.Params{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return direct{s}
}

// Serve hosts the TA on a Unix socket in a temporary directory (tee/rpc
// server, same process) and returns a client session on it. Server,
// client and socket are torn down when the test ends.
func (d *Device) Serve(t testing.TB) rpc.Invoker {
	t.Helper()
	return ServeUnix(t, tee.UUIDKeymaster, d.TA)
}

// ServeUnix hosts ta under uuid on a fresh Unix socket and returns a
// session opened on it through rpc.Dial.
func ServeUnix(t testing.TB, uuid tee.UUID, ta rpc.TA) *rpc.Session {
	t.Helper()
	dir, err := os.MkdirTemp("", "kmt") // short path: sun_path is 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "ta.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := rpc.NewServer(uuid, ta, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, path)
	require.NoError(t, err)
	s, err := c.OpenSession(ctx, uuid, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		_ = c.Close()
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-served, rpc.ErrServerClosed)
	})
	return s
}

// Env returns the auth-test environment for inv on this device. With
// advance, expiry is tested by moving the fake clock; without, by
// back-dating tokens (as across processes, where the clock is real).
func (d *Device) Env(t testing.TB, inv rpc.Invoker, advance bool) Env {
	e := Env{Invoker: inv, Gatekeeper: d.Gatekeeper(t), NowMs: d.Clock.NowMs}
	if advance {
		e.Advance = d.Clock.Advance
	}
	return e
}
