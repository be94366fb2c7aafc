package proof

import (
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/require"
)

// fixedKey returns an SM2 key whose scalar is 32 bytes of seed (a valid
// scalar for seeds 1..0xfe).
func fixedKey(t testing.TB, seed byte) *sm2.PrivateKey {
	t.Helper()
	s := make([]byte, 32)
	for i := range s {
		s[i] = seed
	}
	k, err := sm2.NewPrivateKey(s)
	require.NoError(t, err)
	return k
}

// chain is a device → app → scene hierarchy signed with fixed keys, and a
// statement by the scene key.
type chain struct {
	devKey, appKey, sceneKey    *sm2.PrivateKey
	dev, app, scene             Cert
	devSigned, appSig, sceneSig []byte
	st                          Statement
	stSigned                    []byte
}

func sign(t testing.TB, k *sm2.PrivateKey, body []byte) []byte {
	t.Helper()
	s, err := Sign(k, body)
	require.NoError(t, err)
	return s
}

func marshal(t testing.TB, v interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.Marshal()
	require.NoError(t, err)
	return b
}

var testPayload = []byte(`{"order":"A-1001","amount":"12.34","currency":"CNY"}`)

func newChain(t testing.TB) *chain {
	t.Helper()
	c := &chain{devKey: fixedKey(t, 0x11), appKey: fixedKey(t, 0x22), sceneKey: fixedKey(t, 0x33)}
	devPub := PublicKeyOf(&c.devKey.PublicKey)
	id := DeviceIDOf(devPub)
	c.dev = Cert{Kind: KindDevice, DeviceID: id, Serial: 1, PublicKey: devPub}
	c.app = Cert{Kind: KindApp, DeviceID: id, Serial: 2, PublicKey: PublicKeyOf(&c.appKey.PublicKey), AppID: "com.example.wallet"}
	c.scene = Cert{
		Kind: KindScene, DeviceID: id, Serial: 3, GroupID: 0, AuthenticatorID: 0x0102030405060708,
		FingerBinding: FingerBinding(0, 0x0102030405060708, []uint32{1, 2, 7}),
		PublicKey:     PublicKeyOf(&c.sceneKey.PublicKey), AppID: "com.example.wallet", Scene: "pay",
	}
	c.devSigned = sign(t, c.devKey, marshal(t, c.dev))
	c.appSig = sign(t, c.devKey, marshal(t, c.app))
	c.sceneSig = sign(t, c.appKey, marshal(t, c.scene))
	c.st = Statement{
		DeviceID: id, Counter: 4, Challenge: 0xa1a2a3a4a5a6a7a8, PayloadHash: PayloadHash(testPayload),
		FingerID: 2, GroupID: 0, TAVersion: 1, SensorVersion: 0x00010002, AppID: "com.example.wallet", Scene: "pay",
	}
	c.stSigned = sign(t, c.sceneKey, marshal(t, c.st))
	return c
}
