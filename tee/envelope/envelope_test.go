package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func TestRoundTripEveryRoute(t *testing.T) {
	keys := testKeyring(0)
	for _, r := range tee.Routes {
		for _, n := range []int{0, 1, 32, 64, MaxPayload} {
			t.Run(fmt.Sprintf("%s/%d", r, n), func(t *testing.T) {
				s := mustSealer(t, r.From, keys.For(r.From))
				o := mustOpener(t, r.To, keys.For(r.To))
				payload := bytes.Repeat([]byte{byte(n)}, n)
				typ := allowedType(r)
				b, err := s.Seal(r.To, typ, payload)
				require.NoError(t, err)
				require.Len(t, b, Overhead+n)
				if n >= 16 {
					assert.False(t, bytes.Contains(b, payload[:16]), "payload must not appear in clear")
				}
				m, err := o.Open(b)
				require.NoError(t, err)
				assert.Equal(t, r.From, m.From)
				assert.Equal(t, typ, m.Type)
				assert.Equal(t, uint64(1), m.Seq)
				assert.Equal(t, payload, append([]byte{}, m.Payload...))
			})
		}
	}
}

func TestSealedBytesParse(t *testing.T) {
	keys := testKeyring(0)
	s := mustSealer(t, tee.UUIDFingerprint, keys)
	b, err := s.Seal(tee.UUIDPayment, MsgFingerList, []byte("fingers"))
	require.NoError(t, err)
	e, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, tee.UUIDFingerprint, e.From)
	assert.Equal(t, tee.UUIDPayment, e.To)
	assert.Equal(t, MsgFingerList, e.Type)
	out, err := e.Marshal()
	require.NoError(t, err)
	assert.Equal(t, b, out, "Seal emits exactly the codec's bytes")
}

func TestNoncesDiffer(t *testing.T) {
	s := mustSealer(t, tee.UUIDKeymaster, testKeyring(0))
	a, err := s.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("k"))
	require.NoError(t, err)
	b, err := s.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("k"))
	require.NoError(t, err)
	assert.NotEqual(t, a[offNonce:offLen], b[offNonce:offLen])
	assert.NotEqual(t, a[HeaderSize:], b[HeaderSize:])
}

func TestSealRefuses(t *testing.T) {
	keys := testKeyring(0)
	km := mustSealer(t, tee.UUIDKeymaster, keys)
	fp := mustSealer(t, tee.UUIDFingerprint, keys)
	gk := mustSealer(t, tee.UUIDGatekeeper, keys)
	// Keymaster holding only its gatekeeper key: payment is a manifest
	// route it has no key for.
	kmPartial := mustSealer(t, tee.UUIDKeymaster, Keyring{
		{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}: keys[tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}],
	})
	cases := []struct {
		name    string
		s       *Sealer
		to      tee.UUID
		typ     MsgType
		payload []byte
		want    error
	}{
		{"reverse route", gk, tee.UUIDKeymaster, MsgAuthTokenKey, nil, ErrNoRoute},
		{"gatekeeper sends nothing", gk, tee.UUIDPayment, MsgBioAuthResult, nil, ErrNoRoute},
		{"to self", km, tee.UUIDKeymaster, MsgAuthTokenKey, nil, ErrNoRoute},
		{"to zero UUID", km, tee.UUID{}, MsgAuthTokenKey, nil, ErrNoRoute},
		{"fingerprint to gatekeeper", fp, tee.UUIDGatekeeper, MsgBioAuthResult, nil, ErrNoRoute},
		{"manifest route without key", kmPartial, tee.UUIDPayment, MsgAuthTokenKey, nil, ErrNoRoute},
		{"bio result from keymaster", km, tee.UUIDPayment, MsgBioAuthResult, nil, ErrBadType},
		{"auth-token key from fingerprint", fp, tee.UUIDPayment, MsgAuthTokenKey, nil, ErrBadType},
		{"unknown type", km, tee.UUIDGatekeeper, MsgType(99), nil, ErrBadType},
		{"payload too large", km, tee.UUIDGatekeeper, MsgAuthTokenKey, make([]byte, MaxPayload+1), ErrPayloadTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.s.Seal(c.to, c.typ, c.payload)
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, b)
		})
	}
}

func TestConstructorsRefuse(t *testing.T) {
	keys := testKeyring(0)
	bad := Keyring{{From: tee.UUIDGatekeeper, To: tee.UUIDKeymaster}: {1}}
	zero := Keyring{{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}: {}}
	zeroIn := Keyring{{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}: {}}
	t.Run("sealer unknown self", func(t *testing.T) {
		_, err := NewSealer(tee.UUID{1}, keys, nil)
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("sealer route not in manifest", func(t *testing.T) {
		_, err := NewSealer(tee.UUIDGatekeeper, bad, nil)
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("sealer zero key", func(t *testing.T) {
		_, err := NewSealer(tee.UUIDKeymaster, zero, nil)
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("opener unknown self", func(t *testing.T) {
		_, err := NewOpener(tee.UUID{1}, keys, NewMemoryGuard())
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("opener nil guard", func(t *testing.T) {
		_, err := NewOpener(tee.UUIDGatekeeper, keys, nil)
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("opener route not in manifest", func(t *testing.T) {
		_, err := NewOpener(tee.UUIDKeymaster, bad, NewMemoryGuard())
		require.ErrorIs(t, err, ErrBadConfig)
	})
	t.Run("opener zero key", func(t *testing.T) {
		_, err := NewOpener(tee.UUIDGatekeeper, zeroIn, NewMemoryGuard())
		require.ErrorIs(t, err, ErrBadConfig)
	})
}

// rawSeal seals an envelope for any header with any key, bypassing the
// manifest checks of Sealer, to model a forger or a misconfigured TA.
func rawSeal(t *testing.T, key Key, h Header, payload []byte) []byte {
	t.Helper()
	a, err := newAEAD(key)
	require.NoError(t, err)
	out := appendHeader(nil, &h, len(payload))
	return a.Seal(out, h.Nonce[:], payload, out[:HeaderSize])
}

func TestOpenRejects(t *testing.T) {
	keys := testKeyring(0)
	kmGK := tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}
	fpPay := tee.Route{From: tee.UUIDFingerprint, To: tee.UUIDPayment}
	km := mustSealer(t, tee.UUIDKeymaster, keys)
	seal := func(s *Sealer, to tee.UUID, typ MsgType) []byte {
		b, err := s.Seal(to, typ, []byte("0123456789abcdef0123456789abcdef"))
		require.NoError(t, err)
		return b
	}
	forGK := seal(km, tee.UUIDGatekeeper, MsgAuthTokenKey)
	otherBoot := seal(mustSealer(t, tee.UUIDKeymaster, testKeyring(0x80)), tee.UUIDGatekeeper, MsgAuthTokenKey)
	// An envelope on a route the manifest does not list, sealed with a key
	// the forger made up.
	offManifest := rawSeal(t, Key{7}, Header{Version: Version, From: tee.UUIDFingerprint, To: tee.UUIDGatekeeper, Type: MsgBioAuthResult, Seq: 1}, []byte("x"))
	fromUnknownTA := rawSeal(t, Key{7}, Header{Version: Version, From: tee.UUID{0xEE}, To: tee.UUIDGatekeeper, Type: MsgAuthTokenKey, Seq: 1}, []byte("x"))
	// Fingerprint sealing (with its genuine key) a type its route does not carry.
	wrongType := rawSeal(t, keys[fpPay], Header{Version: Version, From: tee.UUIDFingerprint, To: tee.UUIDPayment, Type: MsgAuthTokenKey, Seq: 1}, []byte("x"))
	// Forged envelope on a real route with a guessed key.
	forged := rawSeal(t, Key{9}, Header{Version: Version, From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper, Type: MsgAuthTokenKey, Seq: 1 << 40}, []byte("x"))

	gkKeysOtherBoot := testKeyring(0x80).For(tee.UUIDGatekeeper)
	paymentWithoutFP := Keyring{}
	for r, k := range keys.For(tee.UUIDPayment) {
		if r != fpPay {
			paymentWithoutFP[r] = k
		}
	}
	fromFP := seal(mustSealer(t, tee.UUIDFingerprint, keys), tee.UUIDPayment, MsgBioAuthResult)

	cases := []struct {
		name   string
		opener *Opener
		b      []byte
		want   error
	}{
		{"wrong recipient", mustOpener(t, tee.UUIDFingerprint, keys.For(tee.UUIDFingerprint)), forGK, ErrWrongRecipient},
		{"sender opens own envelope", mustOpener(t, tee.UUIDKeymaster, keys.For(tee.UUIDKeymaster)), forGK, ErrWrongRecipient},
		{"route not in manifest", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), offManifest, ErrUnknownSender},
		{"sender not a TA", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), fromUnknownTA, ErrUnknownSender},
		{"recipient holds no key for route", mustOpener(t, tee.UUIDPayment, paymentWithoutFP), fromFP, ErrUnknownSender},
		{"type not carried on route", mustOpener(t, tee.UUIDPayment, keys.For(tee.UUIDPayment)), wrongType, ErrBadType},
		{"wrong key", mustOpener(t, tee.UUIDGatekeeper, gkKeysOtherBoot), forGK, ErrAuth},
		{"earlier boot", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), otherBoot, ErrAuth},
		{"forged with guessed key", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), forged, ErrAuth},
		{"truncated", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), forGK[:len(forGK)-1], ErrMalformed},
		{"trailing byte", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), append(append([]byte{}, forGK...), 0), ErrMalformed},
		{"empty", mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper)), nil, ErrMalformed},
	}
	_ = kmGK
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.opener.Open(c.b)
			require.ErrorIs(t, err, c.want)
			assert.Equal(t, Message{}, m, "no partial result")
			for _, other := range []error{ErrMalformed, ErrWrongRecipient, ErrUnknownSender, ErrBadType, ErrAuth, ErrReplay} {
				if other != c.want {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

// TestTamperEveryByte flips each bit of every byte of a genuine envelope
// and checks that Open rejects it with the error of the region hit, and
// that no failed attempt advances the replay mark: the genuine envelope
// still opens afterwards.
func TestTamperEveryByte(t *testing.T) {
	keys := testKeyring(0)
	for _, r := range tee.Routes {
		t.Run(r.String(), func(t *testing.T) {
			s := mustSealer(t, r.From, keys)
			s.seq = NewSequencer(&fixedNano{ns: 0x00FF_FFFF_FFFF_FFFF}) // no single flip reaches 0
			o := mustOpener(t, r.To, keys.For(r.To))
			good, err := s.Seal(r.To, allowedType(r), []byte("payload of sixteen+ bytes"))
			require.NoError(t, err)
			for i := range good {
				for bit := range 8 {
					b := append([]byte{}, good...)
					b[i] ^= 1 << bit
					m, err := o.Open(b)
					require.Error(t, err, "byte %d bit %d", i, bit)
					assert.Equal(t, Message{}, m)
					var want []error
					switch {
					case i == offVersion, i >= offLen && i < HeaderSize:
						want = []error{ErrMalformed}
					case i < offTo:
						want = []error{ErrUnknownSender}
					case i < offType:
						want = []error{ErrWrongRecipient}
					case i < offSeq:
						want = []error{ErrBadType, ErrAuth}
					default: // sequence, nonce, ciphertext, tag
						want = []error{ErrAuth}
					}
					ok := false
					for _, w := range want {
						ok = ok || errors.Is(err, w)
					}
					assert.True(t, ok, "byte %d bit %d: got %v, want one of %v", i, bit, err, want)
				}
			}
			m, err := o.Open(good)
			require.NoError(t, err, "failed opens must not advance the replay mark")
			assert.Equal(t, r.From, m.From)
		})
	}
}

func TestReplayAndReorder(t *testing.T) {
	keys := testKeyring(0)
	s := mustSealer(t, tee.UUIDKeymaster, keys)
	o := mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper))
	e1, err := s.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("one"))
	require.NoError(t, err)
	e2, err := s.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("two"))
	require.NoError(t, err)
	e3, err := s.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("three"))
	require.NoError(t, err)

	_, err = o.Open(e2)
	require.NoError(t, err)
	_, err = o.Open(e2)
	require.ErrorIs(t, err, ErrReplay, "replay")
	_, err = o.Open(e1)
	require.ErrorIs(t, err, ErrReplay, "reorder: older than the mark")
	m, err := o.Open(e3)
	require.NoError(t, err)
	assert.Equal(t, "three", string(m.Payload))
	_, err = o.Open(e3)
	require.ErrorIs(t, err, ErrReplay)
}

func TestRoutesHaveIndependentMarks(t *testing.T) {
	keys := testKeyring(0)
	km := mustSealer(t, tee.UUIDKeymaster, keys)
	fp := mustSealer(t, tee.UUIDFingerprint, keys)
	fp.seq = NewSequencer(&fixedNano{ns: 1000})
	o := mustOpener(t, tee.UUIDPayment, keys.For(tee.UUIDPayment))
	a, err := fp.Seal(tee.UUIDPayment, MsgBioAuthResult, nil) // seq 1000
	require.NoError(t, err)
	b, err := km.Seal(tee.UUIDPayment, MsgAuthTokenKey, nil) // seq 1
	require.NoError(t, err)
	_, err = o.Open(a)
	require.NoError(t, err)
	_, err = o.Open(b)
	require.NoError(t, err, "keymaster's low sequence is judged on its own route")
}

// TestSenderRestart models a sender process that sealed quickly, crashed
// and was restarted within the same boot with no saved state: the boot
// clock keeps its numbers above the ones issued before.
func TestSenderRestart(t *testing.T) {
	keys := testKeyring(0)
	clock := &fixedNano{ns: 5_000_000}
	o := mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper))
	before, err := NewSealer(tee.UUIDKeymaster, keys, clock)
	require.NoError(t, err)
	var last uint64
	for range 5 { // faster than the clock ticks: last+1 wins
		b, err := before.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, nil)
		require.NoError(t, err)
		m, err := o.Open(b)
		require.NoError(t, err)
		assert.Greater(t, m.Seq, last)
		last = m.Seq
	}
	assert.Equal(t, uint64(5_000_004), last)

	clock.ns += 1000 // the restart takes at least a microsecond
	after, err := NewSealer(tee.UUIDKeymaster, keys, clock)
	require.NoError(t, err)
	b, err := after.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, nil)
	require.NoError(t, err)
	m, err := o.Open(b)
	require.NoError(t, err, "restarted sender's envelopes must be accepted")
	assert.Greater(t, m.Seq, last)

	// Without the clock a restarted sender would start again at 1.
	counter := mustSealer(t, tee.UUIDKeymaster, keys)
	b, err = counter.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, nil)
	require.NoError(t, err)
	_, err = o.Open(b)
	require.ErrorIs(t, err, ErrReplay)
}

func TestConcurrentSealOpen(t *testing.T) {
	keys := testKeyring(0)
	s := mustSealer(t, tee.UUIDFingerprint, keys)
	o := mustOpener(t, tee.UUIDPayment, keys.For(tee.UUIDPayment))
	const n = 64
	envs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, err := s.Seal(tee.UUIDPayment, MsgFingerList, []byte{byte(i)})
			assert.NoError(t, err)
			envs[i] = b
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, b := range envs {
		e, err := Parse(b)
		require.NoError(t, err)
		assert.False(t, seen[e.Seq], "duplicate sequence number %d", e.Seq)
		seen[e.Seq] = true
	}
	// Concurrent opens of the same envelope: exactly one wins.
	b, err := s.Seal(tee.UUIDPayment, MsgFingerList, nil)
	require.NoError(t, err)
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			if _, err := o.Open(b); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else {
				assert.ErrorIs(t, err, ErrReplay)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, wins)
}

func TestTypeAllowed(t *testing.T) {
	km := func(to tee.UUID) tee.Route { return tee.Route{From: tee.UUIDKeymaster, To: to} }
	fpPay := tee.Route{From: tee.UUIDFingerprint, To: tee.UUIDPayment}
	cases := []struct {
		r    tee.Route
		typ  MsgType
		want bool
	}{
		{km(tee.UUIDGatekeeper), MsgAuthTokenKey, true},
		{km(tee.UUIDFingerprint), MsgAuthTokenKey, true},
		{km(tee.UUIDPayment), MsgAuthTokenKey, true},
		{fpPay, MsgBioAuthResult, true},
		{fpPay, MsgFingerList, true},
		{fpPay, MsgAuthTokenKey, false},
		{km(tee.UUIDPayment), MsgBioAuthResult, false},
		{km(tee.UUIDGatekeeper), MsgFingerList, false},
		{km(tee.UUIDGatekeeper), MsgType(0), false},
		{tee.Route{From: tee.UUIDGatekeeper, To: tee.UUIDKeymaster}, MsgAuthTokenKey, false},
		{tee.Route{From: tee.UUIDFingerprint, To: tee.UUIDGatekeeper}, MsgBioAuthResult, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, TypeAllowed(c.r, c.typ), "%s %s", c.r, c.typ)
	}
}

func TestSecretsRedacted(t *testing.T) {
	keys := testKeyring(0)
	var k Key
	for i := range k {
		k[i] = 0xAB
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		assert.Equal(t, redacted, fmt.Sprintf(verb, k), verb)
		assert.NotContains(t, fmt.Sprintf(verb, Keyring{tee.Routes[0]: k}), "ab", verb)
		assert.NotContains(t, fmt.Sprintf(verb, Keyring{tee.Routes[0]: k}), "171", verb)
	}
	text, err := k.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, redacted, string(text))

	m := Message{From: tee.UUIDKeymaster, Type: MsgAuthTokenKey, Seq: 3, Payload: bytes.Repeat([]byte{0xCD}, 32)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		out := fmt.Sprintf(verb, m)
		assert.NotContains(t, out, "cd", verb)
		assert.NotContains(t, out, "205", verb)
		assert.Contains(t, out, "redacted 32 bytes", verb)
	}
	s := mustSealer(t, tee.UUIDKeymaster, keys)
	assert.Equal(t, "envelope.Sealer(keymaster, 3 routes)", fmt.Sprint(s))
	o := mustOpener(t, tee.UUIDPayment, keys)
	assert.Equal(t, "envelope.Opener(payment, 2 routes)", fmt.Sprint(o))
}

func TestKeyringFor(t *testing.T) {
	keys := testKeyring(0)
	want := map[tee.UUID]int{tee.UUIDKeymaster: 3, tee.UUIDGatekeeper: 1, tee.UUIDFingerprint: 2, tee.UUIDPayment: 2}
	for u, n := range want {
		got := keys.For(u)
		assert.Len(t, got, n)
		for r := range got {
			assert.True(t, r.From == u || r.To == u)
		}
	}
	keys[tee.Route{From: tee.UUIDGatekeeper, To: tee.UUIDKeymaster}] = Key{1}
	assert.Len(t, keys.For(tee.UUIDGatekeeper), 1, "non-manifest routes are dropped")
}

func BenchmarkSealOpen64(b *testing.B) {
	keys := testKeyring(0)
	s := mustSealer(b, tee.UUIDFingerprint, keys)
	o := mustOpener(b, tee.UUIDPayment, keys.For(tee.UUIDPayment))
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		env, err := s.Seal(tee.UUIDPayment, MsgBioAuthResult, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Open(env); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOpenIf: OpenIf runs its check on the clear header of a well-formed
// envelope only, before the recipient, route, type, tag and replay checks:
// a refused envelope returns the check's error as it is and never moves
// the route's mark (the same envelope opens afterwards, or a tampered one
// then fails its tag); a nil check is Open.
func TestOpenIf(t *testing.T) {
	keys := testKeyring(0)
	errRefused := errors.New("refused by the caller")
	refuse := func(Header) error { return errRefused }
	sealed := func(t *testing.T) []byte {
		b, err := mustSealer(t, tee.UUIDKeymaster, keys).Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, []byte("key"))
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name  string
		b     func(*testing.T) []byte
		check func(Header) error
		want  error // nil: opens
		calls int
		after error // Open of the same bytes after a refusal
	}{
		{"nil check opens", sealed, nil, nil, 0, nil},
		{"accepting check opens", sealed, func(Header) error { return nil }, nil, 1, nil},
		{"refused", sealed, refuse, errRefused, 1, nil},
		{"refused before the tag", func(t *testing.T) []byte { b := sealed(t); b[len(b)-1] ^= 1; return b }, refuse, errRefused, 1, ErrAuth},
		{"malformed: check not run", func(t *testing.T) []byte { return sealed(t)[:Overhead-1] }, refuse, ErrMalformed, 0, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mustOpener(t, tee.UUIDGatekeeper, keys.For(tee.UUIDGatekeeper))
			b := tc.b(t)
			calls := 0
			var check func(Header) error
			if tc.check != nil {
				check = func(h Header) error {
					calls++
					assert.Equal(t, tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}, h.Route())
					assert.Equal(t, MsgAuthTokenKey, h.Type)
					return tc.check(h)
				}
			}
			m, err := o.OpenIf(b, check)
			assert.Equal(t, tc.calls, calls, "check calls")
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "key", string(m.Payload))
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, Message{}, m, "no partial result")
			if tc.want == errRefused {
				assert.Equal(t, errRefused, err, "the check's error as it is")
			}
			_, err = o.Open(b)
			if tc.after == nil {
				require.NoError(t, err, "the refusal moved the mark")
			} else {
				require.ErrorIs(t, err, tc.after)
			}
		})
	}
}
