package channel

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// FuzzServerHandle: whatever a device sends first, the server neither
// panics nor establishes; it answers with a ServerHello/RSAResponse or a
// typed error after which it is dead.
func FuzzServerHandle(f *testing.F) {
	w := getWorld(f)
	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
		c, err := NewClient(w.clientConfig(p))
		require.NoError(f, err)
		m, err := c.Open()
		require.NoError(f, err)
		f.Add(m)
		f.Add(m[:len(m)/2])
	}
	f.Add([]byte{})
	scfg := w.serverConfig(chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewServer(scfg)
		require.NoError(t, err)
		out, est, err := s.Handle(b)
		require.False(t, est)
		if err != nil {
			require.Nil(t, out)
			_, _, err2 := s.Handle(b)
			require.ErrorIs(t, err2, ErrDead)
		}
	})
}

// FuzzClientContinue: whatever comes back to a device that sent a
// gm-fs ClientHello, it never panics and never establishes on bytes
// that are not the server's (the seed corpus holds a genuine reply from
// another session, which must fail too).
func FuzzClientContinue(f *testing.F) {
	w := getWorld(f)
	_, _, msgs := handshake(f, w.clientConfig(chanwire.ProfileGMFS), w.serverConfig(chanwire.ProfileGMFS))
	f.Add(msgs[1])
	f.Add(msgs[1][:100])
	f.Add(msgs[0])
	ccfg := w.clientConfig(chanwire.ProfileGMFS)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewClient(ccfg)
		require.NoError(t, err)
		_, err = c.Open()
		require.NoError(t, err)
		out, est, err := c.Continue(b)
		require.Error(t, err)
		require.False(t, est)
		require.Nil(t, out)
	})
}
