package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/store"
)

// testTiers: a device's customer tier is unset until recorded, replaced
// by a later SetTier, refused for an unknown or revoked device and for a
// name that is not a policy tier.
func testTiers(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	id := w.d.dev.ID
	_, err := w.s.Tier(ctx, id)
	require.ErrorIs(t, err, store.ErrTierUnset)
	require.NoError(t, w.s.SetTier(ctx, id, "standard"))
	got, err := w.s.Tier(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "standard", got)
	require.NoError(t, w.s.SetTier(ctx, id, "platinum"))
	got, err = w.s.Tier(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "platinum", got)
	for _, bad := range []string{"", "Gold", "1st", "a b", "x\x00", string(make([]byte, store.MaxTierLen+1))} {
		require.ErrorIs(t, w.s.SetTier(ctx, id, bad), store.ErrInvalid, "%q", bad)
	}
	other := newDevice(t)
	require.ErrorIs(t, w.s.SetTier(ctx, other.dev.ID, "standard"), store.ErrDeviceUnknown)
	require.NoError(t, w.s.RevokeDevice(ctx, id))
	require.ErrorIs(t, w.s.SetTier(ctx, id, "standard"), store.ErrDeviceRevoked)
}
