package bio

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// testKeys returns a keyring with a distinct non-zero key per manifest
// route.
func testKeys() envelope.Keyring {
	k := envelope.Keyring{}
	for i, r := range tee.Routes {
		var key envelope.Key
		for j := range key {
			key[j] = byte(0x40 + 16*i + j)
		}
		k[r] = key
	}
	return k
}

func newSender(t testing.TB, clock tee.Clock) *Sender {
	t.Helper()
	s, err := envelope.NewSealer(tee.UUIDFingerprint, testKeys(), nil)
	require.NoError(t, err)
	snd, err := NewSender(s, clock)
	require.NoError(t, err)
	return snd
}

func newPaymentOpener(t testing.TB) *envelope.Opener {
	t.Helper()
	o, err := envelope.NewOpener(tee.UUIDPayment, testKeys().For(tee.UUIDPayment), envelope.NewMemoryGuard())
	require.NoError(t, err)
	return o
}
