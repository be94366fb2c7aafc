package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/store"
)

func otpSeed(w *world, app string, sealed byte) store.OTPSeed {
	return store.OTPSeed{Ref: store.OTPRef{Device: w.d.dev.ID, App: app}, Algorithm: "sm3", Digits: 6,
		PeriodSeconds: 60, Sealed: []byte{sealed, 1, 2, 3}}
}

// testOTPSeeds: seeds register per (device, app), replace keeping the
// last accepted step, and AcceptOTPStep only moves forward.
func testOTPSeeds(t *testing.T, h Harness) {
	w := setup(t, h, store.Options{})
	ctx := context.Background()
	s := otpSeed(w, "pay", 0xA1)
	_, err := w.s.OTPSeed(ctx, s.Ref)
	require.ErrorIs(t, err, store.ErrOTPUnknown)
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 5), store.ErrOTPUnknown)
	require.NoError(t, w.s.PutOTPSeed(ctx, s))
	got, err := w.s.OTPSeed(ctx, s.Ref)
	require.NoError(t, err)
	assert.Equal(t, s.Sealed, got.Sealed)
	assert.Equal(t, "sm3", got.Algorithm)
	assert.Equal(t, 6, got.Digits)
	assert.Equal(t, 60, got.PeriodSeconds)
	assert.False(t, got.HasLastStep)

	// The CAS: strictly increasing steps only.
	require.NoError(t, w.s.AcceptOTPStep(ctx, s.Ref, 100))
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 100), store.ErrOTPReplay, "the same step again: a replayed code")
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 99), store.ErrOTPReplay, "an older window after a newer one")
	require.NoError(t, w.s.AcceptOTPStep(ctx, s.Ref, 101))
	require.NoError(t, w.s.AcceptOTPStep(ctx, s.Ref, 0x7fff_ffff_0000_0000), "large steps compare correctly in SQL")
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 0x7fff_fffe_ffff_ffff), store.ErrOTPReplay)
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 1<<63), store.ErrInvalid, "steps stay below 2^63")
	got, err = w.s.OTPSeed(ctx, s.Ref)
	require.NoError(t, err)
	assert.True(t, got.HasLastStep)
	assert.Equal(t, uint64(0x7fff_ffff_0000_0000), got.LastStep)

	// Another app of the same device has its own seed and step.
	other := otpSeed(w, "wallet", 0xB2)
	require.NoError(t, w.s.PutOTPSeed(ctx, other))
	require.NoError(t, w.s.AcceptOTPStep(ctx, other.Ref, 100))

	// Re-seeding keeps the high-water mark.
	s.Sealed = []byte{0xC3, 9}
	s.Digits = 8
	require.NoError(t, w.s.PutOTPSeed(ctx, s))
	got, err = w.s.OTPSeed(ctx, s.Ref)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xC3, 9}, got.Sealed)
	assert.Equal(t, 8, got.Digits)
	assert.Equal(t, uint64(0x7fff_ffff_0000_0000), got.LastStep, "a new seed does not reopen old windows")
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, s.Ref, 101), store.ErrOTPReplay)

	// Bounds, checked before any SQL.
	for _, bad := range []func(*store.OTPSeed){
		func(x *store.OTPSeed) { x.Ref.App = "" },
		func(x *store.OTPSeed) { x.Algorithm = "" },
		func(x *store.OTPSeed) { x.Digits = 5 },
		func(x *store.OTPSeed) { x.Digits = 9 },
		func(x *store.OTPSeed) { x.PeriodSeconds = 0 },
		func(x *store.OTPSeed) { x.PeriodSeconds = 61 },
		func(x *store.OTPSeed) { x.Epoch = -1 },
		func(x *store.OTPSeed) { x.Sealed = nil },
		func(x *store.OTPSeed) { x.Sealed = make([]byte, store.MaxSealedSeedLen+1) },
	} {
		x := otpSeed(w, "pay", 1)
		bad(&x)
		require.ErrorIs(t, w.s.PutOTPSeed(ctx, x), store.ErrInvalid)
	}

	// Unknown and revoked devices.
	stranger := newDevice(t)
	require.ErrorIs(t, w.s.PutOTPSeed(ctx, store.OTPSeed{Ref: store.OTPRef{Device: stranger.dev.ID, App: "pay"},
		Algorithm: "sm3", Digits: 6, PeriodSeconds: 60, Sealed: []byte{1}}), store.ErrDeviceUnknown)
	require.NoError(t, w.s.RevokeDevice(ctx, w.d.dev.ID))
	require.ErrorIs(t, w.s.AcceptOTPStep(ctx, other.Ref, 200), store.ErrDeviceRevoked)
	require.ErrorIs(t, w.s.PutOTPSeed(ctx, other), store.ErrDeviceRevoked)
}

// testOTPRace: N requests racing one step — on one store and, where the
// backend has shared storage, on a second store over the same database
// (as a second server process would be) — accept it exactly once.
func testOTPRace(t *testing.T, h Harness) {
	w, stores := raceWorld(t, h)
	ctx := context.Background()
	seed := otpSeed(w, "pay", 1)
	require.NoError(t, w.s.PutOTPSeed(ctx, seed))
	for step := uint64(1000); step < 1004; step++ {
		raceOnce(t, fmt.Sprintf("step %d", step), 16, store.ErrOTPReplay, func(i int) error {
			return stores[i%len(stores)].AcceptOTPStep(ctx, seed.Ref, step)
		})
	}
	got, err := w.s.OTPSeed(ctx, seed.Ref)
	require.NoError(t, err)
	assert.Equal(t, uint64(1003), got.LastStep)
}
