package tatest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// Device is what an emulated boot hands a TA under test: a directory for
// its database, a storage key, the device's envelope keyring, a boot ID
// and a fake clock — and Keymaster's sealer, to send the TA its auth-token
// key as Keymaster would. A TA's test fixture embeds it and adds its own.
type Device struct {
	Dir        string
	StorageKey []byte
	Keys       envelope.Keyring
	BootID     []byte
	Clock      *tee.FakeClock
	KM         *envelope.Sealer
}

// NewDevice draws a fresh device whose clock reads now (ms since boot).
func NewDevice(t testing.TB, now uint64) *Device {
	t.Helper()
	d := &Device{
		Dir:        t.TempDir(),
		StorageKey: Rand(t, 32),
		Keys:       Keyring(t),
		BootID:     Rand(t, 16),
		Clock:      tee.NewFakeClock(now),
	}
	var err error
	d.KM, err = envelope.NewSealer(tee.UUIDKeymaster, d.Keys.For(tee.UUIDKeymaster), nil)
	require.NoError(t, err)
	return d
}

// KeyEnvelope is Keymaster's answer to GET_AUTH_TOKEN_KEY for the TA to:
// key sealed for to as an envelope.MsgAuthTokenKey.
func (d *Device) KeyEnvelope(t testing.TB, to tee.UUID, key []byte) []byte {
	t.Helper()
	env, err := d.KM.Seal(to, envelope.MsgAuthTokenKey, key)
	require.NoError(t, err)
	return env
}

// Start starts a TA under test as its process would, with its constructor
// newTA and configuration cfg, fails the test if that fails, and closes
// the TA when the test ends.
func Start[C any, T interface{ Close() error }](t testing.TB, newTA func(C) (T, error), cfg C) T {
	t.Helper()
	ta, err := newTA(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ta.Close() })
	return ta
}
