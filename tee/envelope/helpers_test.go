package envelope

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// fixedNano is a NanoClock tests set by hand.
type fixedNano struct{ ns uint64 }

func (c *fixedNano) NowNs() uint64 { return c.ns }

// testKeyring returns distinct, deterministic keys for every manifest route,
// with gen mixed in so two "boots" differ.
func testKeyring(gen byte) Keyring {
	k := make(Keyring)
	for i, r := range tee.Routes {
		var key Key
		for j := range key {
			key[j] = byte(0x11*(i+1)) ^ byte(j) ^ gen
		}
		k[r] = key
	}
	return k
}

func mustSealer(t testing.TB, self tee.UUID, keys Keyring) *Sealer {
	t.Helper()
	s, err := NewSealer(self, keys, nil)
	require.NoError(t, err)
	return s
}

func mustOpener(t testing.TB, self tee.UUID, keys Keyring) *Opener {
	t.Helper()
	o, err := NewOpener(self, keys, NewMemoryGuard())
	require.NoError(t, err)
	return o
}

// allowedType returns a message type the route carries.
func allowedType(r tee.Route) MsgType {
	if r.From == tee.UUIDKeymaster {
		return MsgAuthTokenKey
	}
	return MsgBioAuthResult
}
