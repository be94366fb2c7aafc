package tokens

import (
	"crypto/sha256"
	"testing"
	"time"
)

// benchToken returns a signed fingerprint token and a Verifier that accepts
// it with every policy check enabled, so BenchmarkVerify measures parse + MAC
// + the whole policy.
func benchSetup(b *testing.B) ([]byte, Verifier) {
	b.Helper()
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	m, err := NewMAC(HMACSHA256, key)
	if err != nil {
		b.Fatal(err)
	}
	tok := Token{Challenge: 0x1122334455667788, UserID: 42, AuthenticatorID: 7,
		AuthenticatorType: AuthFingerprint, Timestamp: 5_000}
	m.Sign(&tok)
	v := NewVerifier(m).WithChallenge(tok.Challenge).WithAuthenticatorTypes(AuthFingerprint).
		WithSecureIDs(1, 7).WithFreshness(6_000, 30*time.Second)
	return tok.Marshal(), v
}

func BenchmarkParse(b *testing.B) {
	raw, _ := benchSetup(b)
	b.ReportAllocs()
	b.SetBytes(Size)
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	raw, v := benchSetup(b)
	b.ReportAllocs()
	b.SetBytes(Size)
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel checks the pooled MAC state under contention.
func BenchmarkVerifyParallel(b *testing.B) {
	raw, v := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var floorSink [sha256.Size]byte

// BenchmarkFloorTwoSHA256 is the speed floor for BenchmarkVerify: two
// sha256.Sum256 calls over 55 bytes, i.e. two SHA-256 compressions, which is
// all an HMAC-SHA256 over 37 bytes needs once the key pads are precomputed.
func BenchmarkFloorTwoSHA256(b *testing.B) {
	var in [55]byte
	b.ReportAllocs()
	for b.Loop() {
		floorSink = sha256.Sum256(in[:])
		in[0] = floorSink[0]
		floorSink = sha256.Sum256(in[:])
		in[1] = floorSink[1]
	}
}
