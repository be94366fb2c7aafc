package channel

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
)

var rsaP = chanwire.ProfileOpteeRSA

// TestOpteeRSA: handshake, records both ways, and the rules of the
// profile, each with its error.
func TestOpteeRSA(t *testing.T) {
	w := getWorld(t)
	c, s, msgs := handshake(t, w.clientConfig(rsaP), w.serverConfig(rsaP))
	for i, m := range msgs {
		h, err := chanwire.ParseHeader(m)
		require.NoError(t, err)
		assert.Equal(t, []chanwire.Type{chanwire.TypeRSAHello, chanwire.TypeRSAResponse, chanwire.TypeRSAConfirm}[i], h.Type)
	}
	rec, err := c.Seal(testApp)
	require.NoError(t, err)
	got, err := s.OpenRecord(rec)
	require.NoError(t, err)
	assert.Equal(t, testApp, got)
	rec, err = s.Seal(testApp)
	require.NoError(t, err)
	got, err = c.OpenRecord(rec)
	require.NoError(t, err)
	assert.Equal(t, testApp.UserID, got.UserID)

	start := func(t *testing.T) (*Client, *Server, []byte, []byte) {
		c, err := NewClient(w.clientConfig(rsaP))
		require.NoError(t, err)
		s, err := NewServer(w.serverConfig(rsaP))
		require.NoError(t, err)
		m1, err := c.Open()
		require.NoError(t, err)
		m2, _, err := s.Handle(m1)
		require.NoError(t, err)
		return c, s, m1, m2
	}
	t.Run("response signature", func(t *testing.T) {
		c, _, _, m2 := start(t)
		_, _, err := c.Continue(flip(m2, len(m2)-1))
		require.ErrorIs(t, err, ErrSignature)
		requireDead(t, c)
	})
	t.Run("response sealed by someone else, signed by the server", func(t *testing.T) {
		c, _, _, m2 := start(t)
		m, err := chanwire.ParseRSAResponse(m2)
		require.NoError(t, err)
		m.Sealed.Wrapped = flip(m.Sealed.Wrapped, 10)
		signed := mustMarshal(t, m.SignedPart)
		m.Signature, err = pssSign(rand.Reader, w.srvRSA, signed)
		require.NoError(t, err)
		_, _, err = c.Continue(mustMarshal(t, m.Marshal))
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("response from another session", func(t *testing.T) {
		c, _, _, _ := start(t)
		_, _, _, m2 := start(t)
		_, _, err := c.Continue(m2)
		require.ErrorIs(t, err, ErrDecrypt, "A echo differs")
	})
	t.Run("hello not for this server", func(t *testing.T) {
		_, _, m1, _ := start(t)
		cfg := w.serverConfig(rsaP)
		cfg.RSA = &RSAServerKeys{Key: w.devRSA}
		s, err := NewServer(cfg)
		require.NoError(t, err)
		_, _, err = s.Handle(m1)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("device refused by registry", func(t *testing.T) {
		_, _, m1, _ := start(t)
		cfg := w.serverConfig(rsaP)
		cfg.RSA = &RSAServerKeys{Key: w.srvRSA, VerifyDevice: func([]byte, *rsa.PublicKey) error { return assert.AnError }}
		s, err := NewServer(cfg)
		require.NoError(t, err)
		_, _, err = s.Handle(m1)
		require.ErrorIs(t, err, ErrIdentity)
	})
	t.Run("confirm signature", func(t *testing.T) {
		c, s, _, m2 := start(t)
		m3, _, err := c.Continue(m2)
		require.NoError(t, err)
		m, err := chanwire.ParseRSAConfirm(m3)
		require.NoError(t, err)
		// an attacker who knows the server key seals its own C
		pt := mustMarshal(t, (&chanwire.RSAConfirmPlain{RandomC: [32]byte{1}, Signature: make([]byte, 256)}).Marshal)
		m.Sealed, err = sealTo(rand.Reader, &w.srvRSA.PublicKey, pt)
		require.NoError(t, err)
		_, _, err = s.Handle(mustMarshal(t, m.Marshal))
		require.ErrorIs(t, err, ErrSignature)
	})
	t.Run("confirm tampered", func(t *testing.T) {
		c, s, _, m2 := start(t)
		m3, _, err := c.Continue(m2)
		require.NoError(t, err)
		_, _, err = s.Handle(flip(m3, len(m3)-1))
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("hello repeated", func(t *testing.T) {
		_, s, m1, _ := start(t)
		_, _, err := s.Handle(m1)
		require.ErrorIs(t, err, ErrUnexpectedMessage)
	})
	t.Run("gm-fs message into optee-rsa", func(t *testing.T) {
		c, _, _, _ := start(t)
		_, _, gms := handshake(t, w.clientConfig(chanwire.ProfileGMFS), w.serverConfig(chanwire.ProfileGMFS))
		_, _, err := c.Continue(gms[1])
		require.ErrorIs(t, err, ErrProfile)
	})
	t.Run("records", func(t *testing.T) {
		c, s, _ := handshake(t, w.clientConfig(rsaP), w.serverConfig(rsaP))
		r0, err := c.Seal(testApp)
		require.NoError(t, err)
		_, err = c.OpenRecord(r0)
		require.ErrorIs(t, err, ErrRecordAuth, "reflection")
		_, err = s.OpenRecord(flip(r0, chanwire.HeaderSize+8+16+4))
		require.ErrorIs(t, err, ErrRecordAuth, "tampered ciphertext")

		c, s, _ = handshake(t, w.clientConfig(rsaP), w.serverConfig(rsaP))
		r0, _ = c.Seal(testApp)
		_, err = s.OpenRecord(r0)
		require.NoError(t, err)
		_, err = s.OpenRecord(r0)
		require.ErrorIs(t, err, ErrSequence, "replay")
	})
}
