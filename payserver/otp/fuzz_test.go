package otp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fpemu/fpemu/payserver/store"
)

// FuzzMatch: an arbitrary code never panics and is either malformed or
// checked; a match is a step of the window.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"123456", "12345678", "", "12a456", "１２３４５６", "000000"} {
		f.Add(s, uint8(0))
	}
	seed := bytes.Repeat([]byte{5}, 20)
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, code string, alg uint8) {
		p := DefaultParams([]Algorithm{SM3, TOTPSHA1, TOTPSHA256}[int(alg)%3])
		steps, err := p.Match(seed, code, now, DefaultSkew)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Match(%q): %v", code, err)
			}
			return
		}
		cur, _ := p.Step(now)
		for _, s := range steps {
			if s+1 < cur || s > cur+1 {
				t.Fatalf("step %d outside the window of %d", s, cur)
			}
		}
	})
}

// FuzzOpen: arbitrary sealed bytes never panic and never open.
func FuzzOpen(f *testing.F) {
	s, err := NewSealer(bytes.Repeat([]byte{3}, SealKeyLen))
	if err != nil {
		f.Fatal(err)
	}
	ref := store.OTPRef{App: "pay"}
	p := DefaultParams(SM3)
	good, err := s.Seal(ref, p, bytes.Repeat([]byte{1}, 16))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, MaxSealedLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		seed, err := s.Open(ref, p, b)
		if bytes.Equal(b, good) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if err == nil || seed != nil || !errors.Is(err, ErrSealed) {
			t.Fatalf("Open accepted a forgery: %x", b)
		}
	})
}
