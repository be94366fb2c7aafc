package payserver

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
)

// seed003Policy is the seed 003 example policy of policy/testdata.
func seed003Policy(t *testing.T) *policy.Policy {
	t.Helper()
	pb, err := os.ReadFile(filepath.Join("policy", "testdata", "seed003.policy"))
	require.NoError(t, err)
	pol, err := policy.Parse(pb)
	require.NoError(t, err)
	return pol
}

// newSealer is an OTP seed sealer under a fresh random key.
func newSealer(t *testing.T) *otp.Sealer {
	t.Helper()
	key := make([]byte, otp.SealKeyLen)
	_, err := rand.Read(key)
	require.NoError(t, err)
	sealer, err := otp.NewSealer(key)
	require.NoError(t, err)
	return sealer
}

// signCert marshals c and signs it with k, as the payment TA certifies
// its device, app and scene keys.
func signCert(t *testing.T, k *sm2.PrivateKey, c proof.Cert) []byte {
	t.Helper()
	body, err := c.Marshal()
	require.NoError(t, err)
	signed, err := proof.Sign(k, body)
	require.NoError(t, err)
	return signed
}

// registerDevice makes a device key, registers the device with its
// self-signed device certificate in st, and returns its key and id.
func registerDevice(t *testing.T, st store.Store) (*sm2.PrivateKey, proof.DeviceID) {
	t.Helper()
	dk, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pub := proof.PublicKeyOf(&dk.PublicKey)
	id := proof.DeviceIDOf(pub)
	cert := signCert(t, dk, proof.Cert{Kind: proof.KindDevice, DeviceID: id, Serial: 1, PublicKey: pub})
	require.NoError(t, st.RegisterDevice(context.Background(), store.Device{ID: id, PublicKey: pub, Cert: cert}))
	return dk, id
}

// enrollOTP stores a fresh SM3-OTP seed for ref, sealed by sealer, and
// returns the seed in the clear for the test to compute codes.
func enrollOTP(t *testing.T, st store.Store, sealer *otp.Sealer, ref store.OTPRef, params otp.Params) []byte {
	t.Helper()
	seed, err := otp.NewSeed()
	require.NoError(t, err)
	sealed, err := sealer.Seal(ref, params, seed)
	require.NoError(t, err)
	require.NoError(t, st.PutOTPSeed(context.Background(), otp.Record(ref, params, sealed)))
	return seed
}
