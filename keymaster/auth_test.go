package keymaster_test

import (
	"testing"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
)

// The ports of KeyMint VTS AuthTest, against the TA called in process and
// over tee/rpc on a real Unix socket. The cross-process variant runs the
// same keymastertest.RunAuthTests against a TA in its own OS process.

func TestAuthInProcess(t *testing.T) {
	d := newDevice(t)
	keymastertest.RunAuthTests(t, d.Env(t, d.Direct(t), true))
}

func TestAuthOverUnixSocket(t *testing.T) {
	d := newDevice(t)
	keymastertest.RunAuthTests(t, d.Env(t, d.Serve(t), true))
}

func TestAuthOverUnixSocketBackdated(t *testing.T) {
	d := newDevice(t)
	keymastertest.RunAuthTests(t, d.Env(t, d.Serve(t), false))
}
