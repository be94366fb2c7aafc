package channel

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
)

var sm2Profiles = []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM}

// TestHandshakeAndRecords: a full handshake per profile, then
// application messages both ways in order.
func TestHandshakeAndRecords(t *testing.T) {
	w := getWorld(t)
	for _, p := range sm2Profiles {
		t.Run(p.String(), func(t *testing.T) {
			c, s, _ := handshake(t, w.clientConfig(p), w.serverConfig(p))
			require.True(t, c.Established())
			require.True(t, s.Established())
			for i := 0; i < 3; i++ {
				rec, err := c.Seal(testApp)
				require.NoError(t, err)
				got, err := s.OpenRecord(rec)
				require.NoError(t, err)
				assert.Equal(t, testApp.Custom, got.Custom)
				assert.NotEmpty(t, got.Signature)
				reply := chanwire.AppMessage{DeviceID: []byte("server"), UserID: []byte("user-42"), Custom: []byte("ok")}
				rec, err = s.Seal(reply)
				require.NoError(t, err)
				got, err = c.OpenRecord(rec)
				require.NoError(t, err)
				assert.Equal(t, []byte("ok"), got.Custom)
			}
		})
	}
}

// TestDefaultProfile: a zero Profile is gm-fs.
func TestDefaultProfile(t *testing.T) {
	w := getWorld(t)
	cfg := w.clientConfig(0)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	require.Equal(t, chanwire.ProfileGMFS, c.Profile())
}

// TestAllProfiles: every profile completes and carries records.
func TestAllProfiles(t *testing.T) {
	w := getWorld(t)
	for _, p := range []chanwire.Profile{chanwire.ProfileOpteeRSA, chanwire.ProfileGM, chanwire.ProfileGMFS} {
		c, s, _ := handshake(t, w.clientConfig(p), w.serverConfig(p))
		rec, err := c.Seal(testApp)
		require.NoError(t, err)
		got, err := s.OpenRecord(rec)
		require.NoError(t, err)
		require.Equal(t, testApp.Custom, got.Custom, p)
	}
}
