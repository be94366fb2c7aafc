package verify

import (
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/fpemu/fpemu/bio/payment/proof"
)

// BenchmarkVerifyStatement is Payment (parse + every stateless rule)
// against an in-memory key; BenchmarkVerifyStatement/bare-sm2 is one SM2
// verification of the same signed body in the same run (issue 11: ≥ 0.8
// of the bare verify's rate).
func BenchmarkVerifyStatement(b *testing.B) {
	c := newChain(b)
	sum := summary(c)
	signed := statement(b, c, c.sceneKey, sum, nil)
	key := c.storeKey()
	b.Run("payment", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := Payment(signed, key, c.dev.DeviceID, sum, []byte("r")); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := proof.ParseSigned(signed)
	if err != nil {
		b.Fatal(err)
	}
	pub := &c.sceneKey.PublicKey
	b.Run("bare-sm2", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !sm2.VerifyASN1WithSM2(pub, []byte(proof.DistID), s.Body, s.Signature) {
				b.Fatal("verify")
			}
		}
	})
}
