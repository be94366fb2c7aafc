package verify

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/wire"
)

// chain is a device's attestation chain minted in the test as the payment
// TA mints it (device self-signed → app → scene).
type chain struct {
	devKey, appKey, sceneKey *sm2.PrivateKey
	dev, app, scene          proof.Cert
	devS, appS, sceneS       []byte
	fingers                  []uint32
}

func key(t testing.TB) *sm2.PrivateKey {
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

func sign(t testing.TB, k *sm2.PrivateKey, c proof.Cert) []byte {
	body, err := c.Marshal()
	require.NoError(t, err)
	s, err := proof.Sign(k, body)
	require.NoError(t, err)
	return s
}

func newChain(t testing.TB) *chain {
	c := &chain{devKey: key(t), appKey: key(t), sceneKey: key(t), fingers: []uint32{3, 8}}
	dp := proof.PublicKeyOf(&c.devKey.PublicKey)
	id := proof.DeviceIDOf(dp)
	c.dev = proof.Cert{Kind: proof.KindDevice, DeviceID: id, Serial: 1, PublicKey: dp}
	c.app = proof.Cert{Kind: proof.KindApp, DeviceID: id, Serial: 2, PublicKey: proof.PublicKeyOf(&c.appKey.PublicKey), AppID: "pay.app"}
	c.scene = proof.Cert{Kind: proof.KindScene, DeviceID: id, Serial: 3, GroupID: 0, AuthenticatorID: 0xA1,
		FingerBinding: proof.FingerBinding(0, 0xA1, c.fingers), PublicKey: proof.PublicKeyOf(&c.sceneKey.PublicKey), AppID: "pay.app", Scene: "checkout"}
	c.devS, c.appS, c.sceneS = sign(t, c.devKey, c.dev), sign(t, c.devKey, c.app), sign(t, c.appKey, c.scene)
	return c
}

func (c *chain) register() wire.Register {
	return wire.Register{Device: c.devS, App: c.appS, Scene: c.sceneS, FingerIDs: c.fingers}
}

func (c *chain) storeKey() store.Key {
	return store.Key{Ref: store.KeyRef{Device: c.dev.DeviceID, App: "pay.app", Scene: "checkout"}, PublicKey: c.scene.PublicKey,
		Serial: 3, FingerIDs: c.fingers, Counter: 3}
}

func summary(c *chain) wire.Summary {
	return wire.Summary{Challenge: 0x77, ExpiresMs: 1, OrderID: "0123456789abcdef0123456789abcdef", Device: c.dev.DeviceID,
		Payee: "shop", Amount: 500, Currency: "CNY", Text: "tea"}
}

// statement returns a statement signed with k over the binding of sum.
func statement(t testing.TB, c *chain, k *sm2.PrivateKey, sum wire.Summary, mut func(*proof.Statement)) []byte {
	payload, err := wire.Binding(sum)
	require.NoError(t, err)
	st := proof.Statement{DeviceID: c.dev.DeviceID, Counter: 10, Challenge: 0xFEED, PayloadHash: proof.PayloadHash(payload),
		FingerID: 8, AppID: "pay.app", Scene: "checkout"}
	if mut != nil {
		mut(&st)
	}
	body, err := st.Marshal()
	require.NoError(t, err)
	s, err := proof.Sign(k, body)
	require.NoError(t, err)
	return s
}

func TestRegistrationRules(t *testing.T) {
	c, other := newChain(t), newChain(t)
	roots := NewRoots(c.dev.PublicKey)
	forged := append([]byte(nil), c.sceneS...)
	forged[len(forged)-3] ^= 1
	for _, tc := range []struct {
		name  string
		m     wire.Register
		roots *Roots
		peer  proof.DeviceID
		want  error
		rule  wire.Rule
	}{
		{"ok", c.register(), roots, c.dev.DeviceID, nil, wire.RuleOK},
		{"forged scene signature", wire.Register{Device: c.devS, App: c.appS, Scene: forged, FingerIDs: c.fingers}, roots, c.dev.DeviceID, ErrSignature, wire.RuleSignature},
		{"scene of another device", wire.Register{Device: c.devS, App: c.appS, Scene: other.sceneS, FingerIDs: c.fingers}, roots, c.dev.DeviceID, ErrSignature, wire.RuleSignature},
		{"not attested", other.register(), roots, other.dev.DeviceID, ErrNotAttested, wire.RuleNotAttested},
		{"empty roots", c.register(), NewRoots(), c.dev.DeviceID, ErrNotAttested, wire.RuleNotAttested},
		{"another peer", c.register(), roots, other.dev.DeviceID, ErrIdentity, wire.RuleIdentity},
		{"finger list", wire.Register{Device: c.devS, App: c.appS, Scene: c.sceneS, FingerIDs: []uint32{3}}, roots, c.dev.DeviceID, ErrFingers, wire.RuleFingers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, k, err := Registration(tc.m, tc.roots, tc.peer)
			assert.Equal(t, tc.rule, RuleOf(err))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, d)
				assert.Zero(t, k.Ref)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.dev.DeviceID, d.ID)
			assert.Equal(t, c.scene.PublicKey, k.PublicKey)
			assert.Equal(t, c.fingers, k.FingerIDs)
			assert.Equal(t, uint64(3), k.Serial)
		})
	}
}

func TestPaymentRules(t *testing.T) {
	c, other := newChain(t), newChain(t)
	sum := summary(c)
	good := statement(t, c, c.sceneKey, sum, nil)
	revoked := c.storeKey()
	revoked.Revoked = true
	tampered := sum
	tampered.Amount = 50000
	otherOrder := sum
	otherOrder.OrderID = "ffffffffffffffffffffffffffffffff"
	otherChallenge := sum
	otherChallenge.Challenge = 0x78
	for _, tc := range []struct {
		name   string
		signed []byte
		key    store.Key
		peer   proof.DeviceID
		sum    wire.Summary
		want   error
		rule   wire.Rule
	}{
		{"ok", good, c.storeKey(), c.dev.DeviceID, sum, nil, wire.RuleOK},
		{"revoked key", good, revoked, c.dev.DeviceID, sum, ErrKeyRevoked, wire.RuleKeyRevoked},
		{"signed by another key", statement(t, c, other.sceneKey, sum, nil), c.storeKey(), c.dev.DeviceID, sum, ErrSignature, wire.RuleSignature},
		{"other scene named", statement(t, c, c.sceneKey, sum, func(s *proof.Statement) { s.Scene = "other" }), c.storeKey(), c.dev.DeviceID, sum, ErrSignature, wire.RuleSignature},
		{"truncated", good[:len(good)-1], c.storeKey(), c.dev.DeviceID, sum, ErrSignature, wire.RuleSignature},
		{"cross-device replay", good, c.storeKey(), other.dev.DeviceID, sum, ErrIdentity, wire.RuleIdentity},
		{"amount tampered", good, c.storeKey(), c.dev.DeviceID, tampered, ErrPayload, wire.RulePayload},
		{"another order", good, c.storeKey(), c.dev.DeviceID, otherOrder, ErrPayload, wire.RulePayload},
		{"another server challenge", good, c.storeKey(), c.dev.DeviceID, otherChallenge, ErrPayload, wire.RulePayload},
		{"counter rollback", statement(t, c, c.sceneKey, sum, func(s *proof.Statement) { s.Counter = 3 }), c.storeKey(), c.dev.DeviceID, sum, ErrCounter, wire.RuleCounter},
		{"finger not bound", statement(t, c, c.sceneKey, sum, func(s *proof.Statement) { s.FingerID = 4 }), c.storeKey(), c.dev.DeviceID, sum, ErrFingerNotBound, wire.RuleFingerNotBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, st, err := Payment(tc.signed, tc.key, tc.peer, tc.sum, []byte("req"))
			assert.Equal(t, tc.rule, RuleOf(err))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, st)
				assert.Zero(t, b.Counter)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint64(10), b.Counter)
			assert.Equal(t, uint64(0x77), b.Challenge, "the server challenge is booked, not the TA's")
			assert.Equal(t, uint64(0xFEED), st.Challenge)
			assert.Equal(t, proof.PayloadHash(tc.signed), b.StatementHash)
			assert.Equal(t, int64(500), b.Amount)
			ref, err := PeekRef(tc.signed)
			require.NoError(t, err)
			assert.Equal(t, c.storeKey().Ref, ref)
		})
	}
}

func TestRuleOfStoreErrors(t *testing.T) {
	for err, rule := range map[error]wire.Rule{
		store.ErrChallengeExpired: wire.RuleChallengeExpired, store.ErrChallengeUsed: wire.RuleChallengeUsed,
		store.ErrChallengeMismatch: wire.RuleChallengeBinding, store.ErrCounter: wire.RuleCounter,
		store.ErrOrderPaid: wire.RuleOrderPaid, store.ErrDeviceRevoked: wire.RuleDeviceRevoked,
		errors.New("disk on fire"): wire.RuleUnavailable, nil: wire.RuleOK,
	} {
		assert.Equal(t, rule, RuleOf(err), "%v", err)
	}
}

func TestParseRoots(t *testing.T) {
	c := newChain(t)
	p, err := c.dev.PublicKey.PEM()
	require.NoError(t, err)
	r, err := ParseRoots(append(p, '\n'))
	require.NoError(t, err)
	assert.True(t, r.Contains(c.dev.PublicKey))
	assert.Equal(t, 1, r.Len())
	for name, b := range map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("hello"),
		"trailing": append(append([]byte{}, p...), "junk"...),
		"cert":     []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
	} {
		_, err := ParseRoots(b)
		assert.Error(t, err, name)
	}
}
