package proof

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyChainAndPayment(t *testing.T) {
	c := newChain(t)
	dev, app, scene, err := VerifyChain(c.devSigned, c.appSig, c.sceneSig)
	require.NoError(t, err)
	assert.Equal(t, c.dev, dev)
	assert.Equal(t, c.app, app)
	assert.Equal(t, c.scene, scene)
	st, err := VerifyPayment(c.stSigned, scene, c.st.Challenge, testPayload)
	require.NoError(t, err)
	assert.Equal(t, c.st, st)
}

func TestVerifyRejects(t *testing.T) {
	c := newChain(t)
	flip := func(b []byte, i int) []byte {
		out := append([]byte(nil), b...)
		out[i] ^= 1
		return out
	}
	otherApp := c.app
	otherApp.AppID = "com.evil"
	otherAppSigned := sign(t, c.devKey, marshal(t, otherApp))
	sceneOfOther := c.scene
	sceneOfOther.AppID = "com.evil"
	sceneOfOtherSigned := sign(t, c.appKey, marshal(t, sceneOfOther))
	otherDev := c.app
	otherDev.DeviceID[0] ^= 1
	otherDevSigned := sign(t, c.devKey, marshal(t, otherDev))
	// An app certificate "self-issued" by the app key.
	selfApp := sign(t, c.appKey, marshal(t, c.app))
	// A device certificate whose id is not derived from its key.
	badID := c.dev
	badID.DeviceID[3] ^= 1
	badIDSigned := sign(t, c.devKey, marshal(t, badID))

	t.Run("device", func(t *testing.T) {
		for _, cs := range []struct {
			name string
			b    []byte
			want error
		}{
			{"serial byte flipped", flip(c.devSigned, 4+20), ErrSignature},
			{"binding byte flipped", flip(c.devSigned, 4+40), ErrMalformed},
			{"signature byte flipped", flip(c.devSigned, len(c.devSigned)-3), ErrSignature},
			{"app cert as device", c.appSig, ErrChain},
			{"id not derived from key", badIDSigned, ErrChain},
			{"garbage", []byte{1, 2, 3}, ErrMalformed},
		} {
			_, err := VerifyDeviceCert(cs.b)
			require.ErrorIs(t, err, cs.want, cs.name)
		}
	})
	t.Run("issued", func(t *testing.T) {
		for _, cs := range []struct {
			name   string
			b      []byte
			issuer Cert
			want   error
		}{
			{"app signed by app key", selfApp, c.dev, ErrSignature},
			{"app cert checked against app", c.appSig, c.app, ErrSignature},
			{"scene by app of another app id", sceneOfOtherSigned, c.app, ErrChain},
			{"app of another device", otherDevSigned, c.dev, ErrChain},
			{"scene cert issued by device", c.sceneSig, c.dev, ErrSignature},
			{"device cert issued by device", c.devSigned, c.dev, ErrChain},
			{"body flipped", flip(c.sceneSig, 40), c.app, ErrSignature},
		} {
			_, err := VerifyCert(cs.b, cs.issuer)
			require.ErrorIs(t, err, cs.want, cs.name)
		}
		_, err := VerifyCert(otherAppSigned, c.dev)
		require.NoError(t, err, "another app id is a valid app certificate")
	})
	t.Run("payment", func(t *testing.T) {
		otherScene := c.scene
		otherScene.Scene = "transfer"
		for _, cs := range []struct {
			name      string
			b         []byte
			scene     Cert
			challenge uint64
			payload   []byte
			want      error
		}{
			{"wrong challenge", c.stSigned, c.scene, c.st.Challenge + 1, testPayload, ErrChallenge},
			{"wrong payload", c.stSigned, c.scene, c.st.Challenge, []byte("{}"), ErrPayload},
			{"statement flipped", flip(c.stSigned, 30), c.scene, c.st.Challenge, testPayload, ErrSignature},
			{"against app cert", c.stSigned, c.app, c.st.Challenge, testPayload, ErrChain},
			{"against another scene cert", c.stSigned, otherScene, c.st.Challenge, testPayload, ErrChain},
			{"cert as statement", c.sceneSig, c.scene, c.st.Challenge, testPayload, ErrSignature},
		} {
			st, err := VerifyPayment(cs.b, cs.scene, cs.challenge, cs.payload)
			require.ErrorIs(t, err, cs.want, cs.name)
			assert.Equal(t, Statement{}, st)
		}
	})
	t.Run("invalid public key", func(t *testing.T) {
		bad := c.scene
		bad.PublicKey[5] ^= 1 // off the curve
		_, err := VerifyStatement(c.stSigned, bad)
		require.ErrorIs(t, err, ErrSignature)
		_, err = bad.PublicKey.PEM()
		require.ErrorIs(t, err, ErrSignature)
	})
}
