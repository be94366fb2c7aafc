package tokens

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// FuzzParse: a valid parse re-marshals to the same bytes; an error returns
// the zero Token and a *MalformedError; ParseHex agrees with Parse.
func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
		f.Add(b[:MACedSize])
		f.Add(append(b, 0))
	}
	f.Add(loadHandmade(f))
	f.Add([]byte{})
	f.Add(make([]byte, Size))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Parse(b)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not a *MalformedError", err)
			}
			if tok != (Token{}) {
				t.Fatalf("partial token on error: %+v", tok)
			}
			if len(b) == Size {
				t.Fatalf("rejected a %d-byte input: %v", Size, err)
			}
		} else {
			if got := tok.Marshal(); string(got) != string(b) {
				t.Fatalf("re-marshal differs:\n in  %x\n out %x", b, got)
			}
			if got := tok.MarshalWithoutMAC(); string(got) != string(b[:MACedSize]) {
				t.Fatalf("MarshalWithoutMAC differs")
			}
		}
		htok, herr := ParseHex(hex.EncodeToString(b))
		if (err == nil) != (herr == nil) || htok != tok {
			t.Fatalf("ParseHex disagrees with Parse: %v / %v", herr, err)
		}
		// Arbitrary text must not panic and must fail cleanly.
		if stok, serr := ParseHex(string(b)); serr != nil && stok != (Token{}) {
			t.Fatalf("ParseHex returned partial token")
		}
	})
}

// FuzzVerify: arbitrary bytes and policies never panic; an error matches
// exactly one sentinel and comes with the zero Token; an accepted token
// re-marshals to the input and really satisfies every configured rule.
func FuzzVerify(f *testing.F) {
	m, err := NewMAC(HMACSHA256, testKey)
	if err != nil {
		f.Fatal(err)
	}
	signed := func(tok Token) []byte { m.Sign(&tok); return tok.Marshal() }
	good := signed(Token{Challenge: 777, UserID: 1001, AuthenticatorID: 2002, AuthenticatorType: AuthFingerprint, Timestamp: 10_000})
	// b, challenge, type mask, sid, now ms, timeout ms, flags (bit0 challenge, bit1 type, bit2 sid, bit3 freshness)
	f.Add(good, uint64(777), uint32(AuthFingerprint), uint64(1001), uint64(10_500), uint32(1000), uint8(0xF))
	f.Add(good, uint64(777), uint32(AuthPassword), uint64(2002), uint64(11_001), uint32(1000), uint8(0xF))
	f.Add(good, uint64(0), uint32(0), uint64(0), uint64(0), uint32(0), uint8(0))
	f.Add(good[:Size-1], uint64(0), uint32(0), uint64(0), uint64(0), uint32(0), uint8(0))
	f.Add(signed(Token{Version: 1}), uint64(0), uint32(0), uint64(0), uint64(0), uint32(0), uint8(0))
	f.Add(signed(Token{Timestamp: 1 << 63, AuthenticatorType: AuthAny}), uint64(0), uint32(AuthAny), uint64(0), uint64(1<<63-5000), uint32(0), uint8(0xA))
	f.Add(loadHandmade(f), uint64(0x0123456789ABCDEF), uint32(AuthAny), uint64(0x1122334455667788), uint64(4328719365), uint32(60_000), uint8(0xF))

	f.Fuzz(func(t *testing.T, b []byte, challenge uint64, mask uint32, sid, now uint64, timeoutMS uint32, flags uint8) {
		v := NewVerifier(m)
		if flags&1 != 0 {
			v = v.WithChallenge(challenge)
		}
		if flags&2 != 0 {
			v = v.WithAuthenticatorTypes(AuthenticatorType(mask))
		}
		if flags&4 != 0 {
			v = v.WithSecureIDs(sid)
		}
		timeout := time.Duration(timeoutMS) * time.Millisecond
		if flags&8 != 0 {
			v = v.WithFreshness(now, timeout)
		}
		tok, err := v.Verify(b)
		if err != nil {
			if tok != (Token{}) {
				t.Fatalf("partial token on error %v", err)
			}
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q matches %d sentinels, want 1", err, n)
			}
			return
		}
		// Accepted: re-check every rule independently of the Verifier.
		if string(tok.Marshal()) != string(b) {
			t.Fatalf("accepted token re-marshals differently")
		}
		if tok.Version != Version || m.Check(&tok) != nil {
			t.Fatalf("accepted a token with bad version or MAC")
		}
		if flags&1 != 0 && tok.Challenge != challenge {
			t.Fatalf("accepted wrong challenge")
		}
		if flags&2 != 0 && uint32(tok.AuthenticatorType)&mask == 0 {
			t.Fatalf("accepted wrong type")
		}
		if flags&4 != 0 && tok.UserID != sid && tok.AuthenticatorID != sid {
			t.Fatalf("accepted wrong SID")
		}
		if flags&8 != 0 {
			if now >= tok.Timestamp && now-tok.Timestamp > uint64(timeoutMS) {
				t.Fatalf("accepted expired token")
			}
			if tok.Timestamp > now && tok.Timestamp-now > uint64(DefaultClockSkew/time.Millisecond) {
				t.Fatalf("accepted future token")
			}
		}
	})
}
