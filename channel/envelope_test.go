package channel

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnvelope: device → server store-and-forward envelope round trip,
// and each rule of OpenEnvelope.
func TestEnvelope(t *testing.T) {
	w := getWorld(t)
	env, err := SealEnvelope(testApp, w.device, w.server.EncCert)
	require.NoError(t, err)
	m, signer, err := OpenEnvelope(env, w.server, w.pki.roots, testNow)
	require.NoError(t, err)
	assert.Equal(t, testApp, m)
	assert.Equal(t, "device-0001", signer.Subject.CommonName)

	t.Run("wrong recipient", func(t *testing.T) {
		_, _, err := OpenEnvelope(env, w.device, w.pki.roots, testNow)
		require.ErrorIs(t, err, ErrEnvelope)
	})
	t.Run("tampered", func(t *testing.T) {
		_, _, err := OpenEnvelope(flip(env, len(env)-3), w.server, w.pki.roots, testNow)
		require.ErrorIs(t, err, ErrEnvelope)
	})
	t.Run("signer from another CA", func(t *testing.T) {
		other := newPKI(t, "other CA")
		_, _, err := OpenEnvelope(env, w.server, other.roots, testNow)
		require.ErrorIs(t, err, ErrEnvelope)
	})
	t.Run("too large", func(t *testing.T) {
		_, _, err := OpenEnvelope(make([]byte, MaxEnvelope+1), w.server, w.pki.roots, testNow)
		require.ErrorIs(t, err, ErrEnvelope)
	})
	t.Run("garbage", func(t *testing.T) {
		_, _, err := OpenEnvelope([]byte{0x30, 0x03, 1, 2, 3}, w.server, w.pki.roots, testNow)
		require.ErrorIs(t, err, ErrEnvelope)
	})
}
