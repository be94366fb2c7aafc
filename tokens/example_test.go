package tokens_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/tokens"
)

func Example() {
	key := make([]byte, tokens.KeySize) // in fpemu, the per-boot key from the Keymaster TA
	mac, err := tokens.NewMAC(tokens.HMACSHA256, key)
	if err != nil {
		panic(err)
	}

	// A fingerprint TA mints a token for challenge 42 at 5 s since boot...
	tok := tokens.Token{Challenge: 42, UserID: 1001, AuthenticatorID: 2002,
		AuthenticatorType: tokens.AuthFingerprint, Timestamp: 5_000}
	mac.Sign(&tok)
	wire := tok.Marshal()

	// ...and a Keymaster-like consumer checks it against its key's policy.
	v := tokens.NewVerifier(mac).
		WithChallenge(42).
		WithAuthenticatorTypes(tokens.AuthPassword|tokens.AuthFingerprint).
		WithSecureIDs(2002).
		WithFreshness(6_000, 30*time.Second)
	got, err := v.Verify(wire)
	fmt.Println(len(wire), got.AuthenticatorType, err)

	_, err = v.WithFreshness(40_000, 30*time.Second).Verify(wire)
	fmt.Println(errors.Is(err, tokens.ErrExpired))
	// Output:
	// 69 FINGERPRINT <nil>
	// true
}
