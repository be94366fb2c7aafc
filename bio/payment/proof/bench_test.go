package proof

import "testing"

// BenchmarkVerifyPayment: a payment server's offline check of one signed
// statement against a parsed scene certificate (parse, SM2-SM3 verify
// with the default distid, challenge and payload hash).
func BenchmarkVerifyPayment(b *testing.B) {
	c := newChain(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyPayment(c.stSigned, c.scene, c.st.Challenge, testPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyChain: the device → app → scene chain (three SM2
// verifications), done once per registration.
func BenchmarkVerifyChain(b *testing.B) {
	c := newChain(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := VerifyChain(c.devSigned, c.appSig, c.sceneSig); err != nil {
			b.Fatal(err)
		}
	}
}
