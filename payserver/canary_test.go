package payserver

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/internal/seam"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
)

// canaryChain is a device → app → scene chain and its scene key.
type canaryChain struct {
	id    proof.DeviceID
	scene *sm2.PrivateKey
	reg   wire.Register
	key   store.Key
}

func newCanaryChain(t *testing.T) canaryChain {
	t.Helper()
	var k [3]*sm2.PrivateKey
	for i := range k {
		var err error
		k[i], err = sm2.GenerateKey(rand.Reader)
		require.NoError(t, err)
	}
	dp := proof.PublicKeyOf(&k[0].PublicKey)
	id := proof.DeviceIDOf(dp)
	fingers := []uint32{3}
	sp := proof.PublicKeyOf(&k[2].PublicKey)
	reg := wire.Register{
		Device: signCert(t, k[0], proof.Cert{Kind: proof.KindDevice, DeviceID: id, Serial: 1, PublicKey: dp}),
		App:    signCert(t, k[0], proof.Cert{Kind: proof.KindApp, DeviceID: id, Serial: 2, PublicKey: proof.PublicKeyOf(&k[1].PublicKey), AppID: "pay.app"}),
		Scene: signCert(t, k[1], proof.Cert{Kind: proof.KindScene, DeviceID: id, Serial: 3, AuthenticatorID: 1,
			FingerBinding: proof.FingerBinding(0, 1, fingers), PublicKey: sp, AppID: "pay.app", Scene: "checkout"}),
		FingerIDs: fingers,
	}
	key := store.Key{Ref: store.KeyRef{Device: id, App: "pay.app", Scene: "checkout"}, PublicKey: sp, Serial: 3, FingerIDs: fingers}
	return canaryChain{id: id, scene: k[2], reg: reg, key: key}
}

// statement is a statement of c over sum's binding, signed by k.
func (c canaryChain) statement(t *testing.T, k *sm2.PrivateKey, sum wire.Summary) []byte {
	t.Helper()
	payload, err := wire.Binding(sum)
	require.NoError(t, err)
	body, err := proof.Statement{DeviceID: c.id, Counter: 10, Challenge: sum.Challenge, PayloadHash: proof.PayloadHash(payload),
		FingerID: 3, AppID: "pay.app", Scene: "checkout"}.Marshal()
	require.NoError(t, err)
	signed, err := proof.Sign(k, body)
	require.NoError(t, err)
	return signed
}

// TestCanarySeamSkipsOneRule: each weakening of the canary seam removes
// exactly its own rule — the probe of that rule passes, the probes of the
// other rules are refused as by the real server — and the empty set is
// the real server (verify.Statement, verify.Registration).
func TestCanarySeamSkipsOneRule(t *testing.T) {
	c, other := newCanaryChain(t), newCanaryChain(t)
	sum := wire.Summary{Challenge: 0x77, OrderID: "0123456789abcdef0123456789abcdef", Device: c.id, Payee: "shop", Amount: 500, Currency: "CNY", Text: "tea"}
	tampered := sum
	tampered.Amount = 1
	roots := verify.NewRoots(mustDeviceKey(t, other.reg))
	cRoots := verify.NewRoots(mustDeviceKey(t, c.reg))
	probes := []struct {
		name string
		run  func(s *Server) error
		rule wire.Rule // the real server's refusal
	}{
		{"statement over another order's binding", func(s *Server) error {
			_, _, err := s.statement(c.statement(t, c.scene, tampered), c.key, c.id, sum, []byte("r"))
			return err
		}, wire.RulePayload},
		{"statement signed by another key", func(s *Server) error {
			_, _, err := s.statement(c.statement(t, other.scene, sum), c.key, c.id, sum, []byte("r"))
			return err
		}, wire.RuleSignature},
		{"chain of another device on the channel", func(s *Server) error {
			r, p := s.weakRegistration(c.reg, cRoots, other.id)
			_, _, err := verify.Registration(c.reg, r, p)
			return err
		}, wire.RuleIdentity},
		{"chain under a device key that is no root", func(s *Server) error {
			r, p := s.weakRegistration(c.reg, roots, c.id)
			_, _, err := verify.Registration(c.reg, r, p)
			return err
		}, wire.RuleNotAttested},
	}
	skips := []seam.Check{seam.Binding, seam.Signature, seam.Identity, seam.Roots}
	for i, skip := range append([]seam.Check{0}, skips...) {
		for j, p := range probes {
			t.Run(fmt.Sprintf("skip %d/%s", skip, p.name), func(t *testing.T) {
				err := p.run(&Server{skip: skip})
				if i > 0 && j == i-1 {
					assert.NoError(t, err, "skip %d lets its own probe through", skip)
					return
				}
				assert.Equal(t, p.rule, verify.RuleOf(err), "skip %d refuses another rule's probe", skip)
			})
		}
	}
	// The honest statement and chain pass every weakening alike.
	for _, skip := range append([]seam.Check{0}, skips...) {
		s := &Server{skip: skip}
		b, _, err := s.statement(c.statement(t, c.scene, sum), c.key, c.id, sum, []byte("r"))
		require.NoError(t, err)
		assert.Equal(t, uint64(10), b.Counter)
		r, p := s.weakRegistration(c.reg, cRoots, c.id)
		_, _, err = verify.Registration(c.reg, r, p)
		require.NoError(t, err)
	}
}

func mustDeviceKey(t *testing.T, m wire.Register) proof.PublicKey {
	t.Helper()
	dev, err := proof.VerifyDeviceCert(m.Device)
	require.NoError(t, err)
	return dev.PublicKey
}
