package otp

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/sqlite"
)

// fixture: a SQLite store with one registered device and its sealed
// seed, and a clock.
type fixture struct {
	s     store.Store
	ref   store.OTPRef
	p     Params
	seed  []byte
	seal  *Sealer
	now   time.Time
	verif *Verifier
}

func newFixture(t *testing.T, a Algorithm) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pay.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var pub proof.PublicKey
	pub[0] = 4
	k.PublicKey.X.FillBytes(pub[1:33])
	k.PublicKey.Y.FillBytes(pub[33:65])
	dev := store.Device{ID: proof.DeviceIDOf(pub), PublicKey: pub, Cert: []byte{1}}
	require.NoError(t, s.RegisterDevice(ctx, dev))
	f := &fixture{s: s, ref: store.OTPRef{Device: dev.ID, App: "pay"}, p: DefaultParams(a), now: time.Unix(1_800_000_000, 0)}
	f.seed, err = NewSeed()
	require.NoError(t, err)
	f.seal, err = NewSealer(bytes.Repeat([]byte{7}, SealKeyLen))
	require.NoError(t, err)
	sealed, err := f.seal.Seal(f.ref, f.p, f.seed)
	require.NoError(t, err)
	require.NoError(t, s.PutOTPSeed(ctx, Record(f.ref, f.p, sealed)))
	f.verif = &Verifier{Store: s, Skew: DefaultSkew, Now: func() time.Time { return f.now }}
	return f
}

// verify is what the server will do: load the row, open the seed, check.
func (f *fixture) verify(t *testing.T, code string) (uint64, error) {
	t.Helper()
	row, err := f.s.OTPSeed(context.Background(), f.ref)
	require.NoError(t, err)
	p, err := ParamsOf(row)
	require.NoError(t, err)
	seed, err := f.seal.Open(f.ref, p, row.Sealed)
	require.NoError(t, err)
	return f.verif.Verify(context.Background(), f.ref, p, seed, code)
}

func (f *fixture) code(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := f.p.CodeAt(f.seed, at)
	require.NoError(t, err)
	return c
}

// TestVerifyNeverTwice: a code is accepted once; a replay, and a code of
// the previous window after a newer one, are ErrReplay (also
// store.ErrOTPReplay); a wrong code is ErrMismatch; outside the skew is
// ErrMismatch.
func TestVerifyNeverTwice(t *testing.T) {
	for _, a := range []Algorithm{SM3, TOTPSHA1, TOTPSHA256} {
		t.Run(string(a), func(t *testing.T) {
			f := newFixture(t, a)
			cur, _ := f.p.Step(f.now)
			prev := f.code(t, f.now.Add(-f.p.Period))
			now := f.code(t, f.now)

			step, err := f.verify(t, now)
			require.NoError(t, err)
			assert.Equal(t, cur, step)
			_, err = f.verify(t, now)
			require.ErrorIs(t, err, ErrReplay, "the same code again")
			require.ErrorIs(t, err, store.ErrOTPReplay)
			if prev != now {
				_, err = f.verify(t, prev)
				require.ErrorIs(t, err, ErrReplay, "the previous window's code after the current one")
			}

			// The next window's code is accepted once the clock gets there.
			f.now = f.now.Add(f.p.Period)
			next := f.code(t, f.now)
			_, err = f.verify(t, next)
			require.NoError(t, err)

			// Wrong and far-away codes.
			wrong := []byte(f.code(t, f.now.Add(f.p.Period)))
			wrong[0] = '0' + (wrong[0]-'0'+1)%10
			_, err = f.verify(t, string(wrong))
			require.ErrorIs(t, err, ErrMismatch)
			old := f.code(t, f.now.Add(-10*f.p.Period))
			if old != next {
				_, err = f.verify(t, old)
				require.ErrorIs(t, err, ErrMismatch, "outside the skew")
			}
			_, err = f.verify(t, "12a456")
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// TestVerifySkew: with skew 1 a code of the previous step is accepted
// (if no newer one was) and so is a code of the next step.
func TestVerifySkew(t *testing.T) {
	f := newFixture(t, SM3)
	_, err := f.verify(t, f.code(t, f.now.Add(-f.p.Period)))
	require.NoError(t, err, "one step late")
	_, err = f.verify(t, f.code(t, f.now.Add(f.p.Period)))
	require.NoError(t, err, "one step early")
	_, err = f.verify(t, f.code(t, f.now))
	require.ErrorIs(t, err, ErrReplay, "the current step is below the accepted early one")
	f.verif.Skew = 0
	f.now = f.now.Add(3 * f.p.Period)
	_, err = f.verify(t, f.code(t, f.now.Add(-f.p.Period)))
	require.ErrorIs(t, err, ErrMismatch, "skew 0: only the current step")
}

func TestVerifyNeedsStore(t *testing.T) {
	_, err := (&Verifier{}).Verify(context.Background(), store.OTPRef{}, DefaultParams(SM3), make([]byte, 16), "123456")
	require.ErrorIs(t, err, ErrParams)
}

// TestSealer: a sealed seed opens only for its row, parameters and key.
func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{1}, SealKeyLen)
	s, err := NewSealer(key)
	require.NoError(t, err)
	_, err = NewSealer(key[:15])
	require.ErrorIs(t, err, ErrParams)
	ref := store.OTPRef{Device: proof.DeviceID{1, 2, 3}, App: "pay"}
	p := DefaultParams(SM3)
	seed := bytes.Repeat([]byte{9}, 20)
	sealed, err := s.Seal(ref, p, seed)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(sealed), MaxSealedLen)
	assert.NotContains(t, string(sealed), string(seed))
	got, err := s.Open(ref, p, sealed)
	require.NoError(t, err)
	assert.Equal(t, seed, got)
	again, err := s.Seal(ref, p, seed)
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce per seal")

	other := ref
	other.App = "wallet"
	_, err = s.Open(other, p, sealed)
	require.ErrorIs(t, err, ErrSealed, "moved to another app")
	other = ref
	other.Device[0] ^= 1
	_, err = s.Open(other, p, sealed)
	require.ErrorIs(t, err, ErrSealed, "moved to another device")
	p8 := p
	p8.Digits = 8
	_, err = s.Open(ref, p8, sealed)
	require.ErrorIs(t, err, ErrSealed, "parameters changed in the database")
	s2, _ := NewSealer(bytes.Repeat([]byte{2}, SealKeyLen))
	_, err = s2.Open(ref, p, sealed)
	require.ErrorIs(t, err, ErrSealed, "another key")
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x80
		_, err = s.Open(ref, p, bad)
		require.ErrorIs(t, err, ErrSealed, "byte %d flipped", i)
	}
	_, err = s.Open(ref, p, sealed[:20])
	require.ErrorIs(t, err, ErrSealed)
	require.LessOrEqual(t, MaxSealedLen, store.MaxSealedSeedLen, "the store holds every sealed seed")
}
