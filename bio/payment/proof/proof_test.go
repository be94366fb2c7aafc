package proof_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/bio/payment/proof/prooftest"
)

type vectors struct {
	Device, App, Scene, Statement []byte
	Payload                       []byte
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors_v1.json")
	require.NoError(t, err)
	var m map[string]string
	require.NoError(t, json.Unmarshal(raw, &m))
	h := func(k string) []byte {
		b, err := hex.DecodeString(m[k])
		require.NoError(t, err, k)
		return b
	}
	return vectors{h("device_signed"), h("app_signed"), h("scene_signed"), h("statement_signed"), []byte(m["payload"])}
}

// TestVectorsVerify: the stored chain and statement (signed once, with
// fixed keys) still verify, so a change in the verifier or the formats
// shows up here.
func TestVectorsVerify(t *testing.T) {
	v := loadVectors(t)
	dev, app, scene, err := proof.VerifyChain(v.Device, v.App, v.Scene)
	require.NoError(t, err)
	assert.Equal(t, "com.example.wallet", app.AppID)
	assert.Equal(t, "pay", scene.Scene)
	assert.Equal(t, dev.DeviceID, scene.DeviceID)
	assert.Equal(t, proof.FingerBinding(0, 0x0102030405060708, []uint32{1, 2, 7}), scene.FingerBinding)
	st, err := proof.VerifyPayment(v.Statement, scene, 0xa1a2a3a4a5a6a7a8, v.Payload)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.Counter)
	assert.Equal(t, uint32(2), st.FingerID)
	assert.Equal(t, uint32(0x00010002), st.SensorVersion)
}

// TestVectorsOpenSSL verifies the stored signatures and the payload hash
// with OpenSSL, an SM2/SM3 implementation independent of gmsm.
func TestVectorsOpenSSL(t *testing.T) {
	v := loadVectors(t)
	dev, app, scene, err := proof.VerifyChain(v.Device, v.App, v.Scene)
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		signed []byte
		key    proof.PublicKey
	}{
		{"device self-signed", v.Device, dev.PublicKey},
		{"app by device", v.App, dev.PublicKey},
		{"scene by app", v.Scene, app.PublicKey},
		{"statement by scene", v.Statement, scene.PublicKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, ok := prooftest.Verify(t, c.signed, c.key)
			assert.True(t, ok, out)
			assert.Contains(t, out, "Verified OK")
		})
	}
	t.Run("wrong key refused", func(t *testing.T) {
		out, ok := prooftest.Verify(t, v.Statement, app.PublicKey)
		assert.False(t, ok, out)
	})
	st, err := proof.VerifyStatement(v.Statement, scene)
	require.NoError(t, err)
	assert.Equal(t, st.PayloadHash[:], prooftest.SM3(t, v.Payload))
}

// TestProtocolDocShowsTheScript: the OpenSSL recipe the tests run is the
// one docs/protocol.md §8.8 shows, byte for byte, and the sizes it quotes
// are the package's.
func TestProtocolDocShowsTheScript(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/protocol.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "```sh\n"+prooftest.Script+"\n```")
	assert.Contains(t, string(doc), "capacity ≥ **409**")
	assert.Equal(t, 409, proof.MaxSignedSize)
}
