// Package tatest is the test harness the TA packages' tests share
// (Keymaster, Gatekeeper, the fingerprint and payment TAs): it hosts a TA
// (rpc.TA) behind a real tee/rpc server on a Unix socket in the test's own
// process, and draws the random secrets of an emulated boot. It imports
// testing and is meant for tests only.
package tatest

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// ServeUnix hosts ta under uuid with a tee/rpc server on a fresh Unix
// socket and returns a session opened on it through rpc.Dial. The socket
// lives in a short temporary directory (sun_path is 108 bytes; t.TempDir
// paths can be longer). When the test ends the session and client are
// closed and the server shut down — the test fails if Shutdown fails or
// Serve returns anything but rpc.ErrServerClosed — and the directory is
// removed. ta itself is not closed.
//
// opts choose the session's login (rpc.AsUser, rpc.AsGroup); the default
// is TEEC_LOGIN_PUBLIC.
func ServeUnix(t testing.TB, uuid tee.UUID, ta rpc.TA, opts ...rpc.SessionOption) *rpc.Session {
	t.Helper()
	return Open(t, HostUnix(t, uuid, ta), uuid, opts...)
}

// HostUnix hosts ta as ServeUnix does and returns the socket's path, for
// tests that open several sessions (for example with different logins)
// with Open. The server is shut down when the test ends.
func HostUnix(t testing.TB, uuid tee.UUID, ta rpc.TA) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tat")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "ta.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := rpc.NewServer(uuid, ta, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-served, rpc.ErrServerClosed)
	})
	return path
}

// Open dials the TA host at path and opens a session on uuid with opts;
// session and connection are closed when the test ends (before the
// server's shutdown registered by HostUnix).
func Open(t testing.TB, path string, uuid tee.UUID, opts ...rpc.SessionOption) *rpc.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, path)
	require.NoError(t, err)
	s, err := c.OpenSession(ctx, uuid, nil, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		_ = c.Close()
	})
	return s
}

// Rand returns n bytes from crypto/rand.
func Rand(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// Keyring returns random pairwise envelope keys for every route of the
// manifest (tee.Routes): one boot's keys, as the launcher hands them out,
// without the fused-key derivation of tee/boot. Each TA takes its own
// share with Keyring.For.
func Keyring(t testing.TB) envelope.Keyring {
	t.Helper()
	keys := make(envelope.Keyring, len(tee.Routes))
	for _, r := range tee.Routes {
		var k envelope.Key
		copy(k[:], Rand(t, envelope.KeySize))
		keys[r] = k
	}
	return keys
}
