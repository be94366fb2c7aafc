package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/sm3"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewMACKeySize(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		for _, alg := range []MACAlgorithm{HMACSHA256, HMACSM3} {
			m, err := NewMAC(alg, make([]byte, n))
			require.ErrorIs(t, err, ErrKey, "len %d", n)
			var kse KeySizeError
			require.ErrorAs(t, err, &kse)
			assert.Equal(t, n, int(kse))
			assert.Nil(t, m)
		}
	}
	_, err := NewMAC(MACAlgorithm(9), testKey)
	require.ErrorIs(t, err, ErrKey)
}

func TestParseMACAlgorithm(t *testing.T) {
	for in, want := range map[string]MACAlgorithm{"hmac-sha256": HMACSHA256, "HMAC-SM3": HMACSM3, " hmac-sm3 ": HMACSM3} {
		got, err := ParseMACAlgorithm(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, got, mustMAC(t, got, testKey).Algorithm())
	}
	for _, in := range []string{"", "sha256", "hmac-sha1", "cmac"} {
		_, err := ParseMACAlgorithm(in)
		require.ErrorIs(t, err, ErrKey, in)
	}
	assert.Equal(t, "hmac-sha256", HMACSHA256.String())
	assert.Equal(t, "hmac-sm3", HMACSM3.String())
	assert.Equal(t, "MACAlgorithm(7)", MACAlgorithm(7).String())
}

// Sign agrees with a straightforward crypto/hmac computation over
// MarshalWithoutMAC, for both algorithms.
func TestSignMatchesReferenceHMAC(t *testing.T) {
	tok := Token{Challenge: 1, UserID: 2, AuthenticatorID: 3, AuthenticatorType: AuthPassword, Timestamp: 4}
	for alg, newHash := range map[MACAlgorithm]func() hash.Hash{HMACSHA256: sha256.New, HMACSM3: sm3.New} {
		h := hmac.New(newHash, testKey)
		_, _ = h.Write(tok.MarshalWithoutMAC())
		signed := tok
		mustMAC(t, alg, testKey).Sign(&signed)
		assert.Equal(t, h.Sum(nil), signed.MAC[:], alg.String())
		sum := mustMAC(t, alg, testKey).Sum(&tok)
		assert.Equal(t, signed.MAC, sum)
	}
}

// Flipping any single bit of a signed token makes Check fail: the MAC covers
// all 37 leading bytes and the hmac field itself is compared in full.
func TestCheckEveryBitFlip(t *testing.T) {
	for _, alg := range []MACAlgorithm{HMACSHA256, HMACSM3} {
		m := mustMAC(t, alg, testKey)
		tok := Token{Challenge: 10, UserID: 20, AuthenticatorID: 30, AuthenticatorType: AuthFingerprint, Timestamp: 40}
		m.Sign(&tok)
		require.NoError(t, m.Check(&tok))
		raw := tok.Marshal()
		for i := 0; i < Size*8; i++ {
			b := append([]byte(nil), raw...)
			b[i/8] ^= 1 << (i % 8)
			flipped, err := Parse(b)
			require.NoError(t, err)
			require.ErrorIs(t, m.Check(&flipped), ErrBadMAC, "%s bit %d", alg, i)
		}
	}
}

// Verify MACs the caller's raw bytes in place; flipping any single bit of
// them must still fail — ErrVersion for the version byte (checked first,
// as keymaster_enforcement.cpp does), ErrBadMAC for every other bit — and
// the genuine bytes must still verify afterwards.
func TestVerifyRawEveryBitFlip(t *testing.T) {
	for _, alg := range []MACAlgorithm{HMACSHA256, HMACSM3} {
		m := mustMAC(t, alg, testKey)
		tok := Token{Challenge: 10, UserID: 20, AuthenticatorID: 30, AuthenticatorType: AuthFingerprint, Timestamp: 40}
		m.Sign(&tok)
		raw := tok.Marshal()
		v := NewVerifier(m)
		for i := 0; i < Size*8; i++ {
			b := append([]byte(nil), raw...)
			b[i/8] ^= 1 << (i % 8)
			got, err := v.Verify(b)
			want := ErrBadMAC
			if i < 8 {
				want = ErrVersion
			}
			require.ErrorIs(t, err, want, "%s bit %d", alg, i)
			require.Equal(t, Token{}, got, "no partial result")
		}
		got, err := v.Verify(raw)
		require.NoError(t, err)
		require.Equal(t, tok, got)
	}
}

func TestCheckWrongKeyOrAlgorithm(t *testing.T) {
	tok := Token{UserID: 1, AuthenticatorType: AuthPassword}
	mustMAC(t, HMACSHA256, testKey).Sign(&tok)

	other := append([]byte(nil), testKey...)
	other[31] ^= 1
	require.ErrorIs(t, mustMAC(t, HMACSHA256, other).Check(&tok), ErrBadMAC)
	require.ErrorIs(t, mustMAC(t, HMACSM3, testKey).Check(&tok), ErrBadMAC)
	require.ErrorIs(t, mustMAC(t, HMACSHA256, testKey).Check(&Token{UserID: 1, AuthenticatorType: AuthPassword}), ErrBadMAC,
		"an all-zero hmac field is not accepted")
}

func TestNewMACCopiesKey(t *testing.T) {
	key := append([]byte(nil), testKey...)
	m := mustMAC(t, HMACSHA256, key)
	tok := Token{UserID: 9}
	m.Sign(&tok)
	for i := range key {
		key[i] = 0xFF
	}
	require.NoError(t, m.Check(&tok))
}

// The key must not be printable through fmt, whatever the verb.
func TestMACFormatHidesKey(t *testing.T) {
	key := testkit.Unhex(t, "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00")
	m := mustMAC(t, HMACSM3, key)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, m)
		assert.Equal(t, "tokens.MAC(hmac-sm3)", out, verb)
		assert.NotContains(t, out, "c0ffee")
	}
	assert.NotContains(t, fmt.Sprintf("%v", struct{ M *MAC }{m}), hex.EncodeToString(key[:4]))
}

// Many goroutines share one *MAC (run with -race).
func TestMACConcurrent(t *testing.T) {
	m := mustMAC(t, HMACSHA256, testKey)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tok := Token{Challenge: uint64(g), UserID: uint64(i)}
				m.Sign(&tok)
				if err := m.Check(&tok); err != nil {
					errs <- err
					return
				}
				tok.UserID++
				if m.Check(&tok) == nil {
					errs <- fmt.Errorf("goroutine %d: tampered token accepted", g)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
