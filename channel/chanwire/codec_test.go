package chanwire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func rnd(b byte) (r [RandomSize]byte) {
	copy(r[:], fill(RandomSize, b))
	return r
}

var (
	goldenCH = ClientHello{Profile: ProfileGMFS, Offered: []Profile{ProfileGMFS, ProfileGM},
		Random: rnd(1), Ephemeral: fill(PointSize, 4), SignCert: fill(300, 0x30), EncCert: fill(301, 0x31)}
	goldenCHgm = ClientHello{Profile: ProfileGM, Offered: []Profile{ProfileGM},
		Random: rnd(1), Ephemeral: []byte{}, SignCert: fill(3, 0x30), EncCert: fill(3, 0x31)}
	goldenSH = ServerHello{Profile: ProfileGMFS, Random: rnd(2), Ephemeral: fill(PointSize, 4),
		SignCert: fill(10, 0x30), EncCert: fill(11, 0x31), Confirm: fill(32, 0xb), Signature: fill(71, 0x30), Finished: fill(32, 0xf)}
	goldenSHgm = ServerHello{Profile: ProfileGM, Random: rnd(2), Ephemeral: []byte{},
		SignCert: fill(10, 0x30), EncCert: fill(11, 0x31), Confirm: []byte{}, Signature: fill(70, 0x30), Finished: []byte{}}
	goldenCF   = ClientFinished{Profile: ProfileGMFS, Confirm: fill(32, 0xa), Signature: fill(72, 0x30), Finished: fill(32, 0xe)}
	goldenCFgm = ClientFinished{Profile: ProfileGM, Confirm: []byte{}, Signature: fill(8, 0x30), Finished: []byte{}}
	goldenRH   = RSAHello{Sealed: Sealed{Mode: SealHybrid, Wrapped: fill(256, 1), Payload: fill(400, 2)}}
	goldenRHd  = RSAHello{Sealed: Sealed{Mode: SealDirect, Wrapped: fill(256, 1)}}
	goldenRR   = RSAResponse{Sealed: Sealed{Mode: SealDirect, Wrapped: fill(256, 3)}, Signature: fill(256, 4)}
	goldenRC   = RSAConfirm{Sealed: Sealed{Mode: SealHybrid, Wrapped: fill(512, 5), Payload: fill(16, 6)}}
	goldenRecG = Record{Profile: ProfileGMFS, Seq: 7, Ciphertext: fill(80, 9)}
	goldenRecR = Record{Profile: ProfileOpteeRSA, Seq: 1 << 40, IV: fill(16, 1), Ciphertext: fill(64, 2), Signature: fill(256, 3)}
	goldenApp  = AppMessage{DeviceID: []byte("dev-1"), UserID: []byte("user-9"), Custom: []byte(`{"amount":100}`), Signature: fill(71, 0x30)}
	goldenApp0 = AppMessage{DeviceID: []byte("d"), UserID: []byte("u"), Custom: []byte{}}
)

// codecs lists every message codec as marshal/parse closures so the round
// trip, truncation and trailing-byte rules are tested once for all.
type codec struct {
	name  string
	value any
	enc   func() ([]byte, error)
	dec   func([]byte) (any, error)
}

func codecs() []codec {
	var out []codec
	for _, m := range []ClientHello{goldenCH, goldenCHgm} {
		m := m
		out = append(out, codec{"ClientHello/" + m.Profile.String(), m, m.Marshal, func(b []byte) (any, error) { return ParseClientHello(b) }})
	}
	for _, m := range []ServerHello{goldenSH, goldenSHgm} {
		m := m
		out = append(out, codec{"ServerHello/" + m.Profile.String(), m, m.Marshal, func(b []byte) (any, error) { return ParseServerHello(b) }})
	}
	for _, m := range []ClientFinished{goldenCF, goldenCFgm} {
		m := m
		out = append(out, codec{"ClientFinished/" + m.Profile.String(), m, m.Marshal, func(b []byte) (any, error) { return ParseClientFinished(b) }})
	}
	for i, m := range []RSAHello{goldenRH, goldenRHd} {
		m := m
		out = append(out, codec{"RSAHello/" + string(rune('0'+i)), m, m.Marshal, func(b []byte) (any, error) { return ParseRSAHello(b) }})
	}
	out = append(out,
		codec{"RSAResponse", goldenRR, goldenRR.Marshal, func(b []byte) (any, error) { return ParseRSAResponse(b) }},
		codec{"RSAConfirm", goldenRC, goldenRC.Marshal, func(b []byte) (any, error) { return ParseRSAConfirm(b) }},
		codec{"Record/gm-fs", goldenRecG, goldenRecG.Marshal, func(b []byte) (any, error) { return ParseRecord(b) }},
		codec{"Record/optee-rsa", goldenRecR, goldenRecR.Marshal, func(b []byte) (any, error) { return ParseRecord(b) }},
	)
	return out
}

// TestRoundTrip: every message re-parses to the value it was marshalled
// from, and the header says its length (docs/protocol.md §11.2).
func TestRoundTrip(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.enc()
			require.NoError(t, err)
			h, err := ParseHeader(b)
			require.NoError(t, err)
			assert.Equal(t, len(b)-HeaderSize, int(h.Length))
			got, err := c.dec(b)
			require.NoError(t, err)
			assert.Equal(t, c.value, got)
		})
	}
}

// TestTruncatedAndTrailing: every prefix of every message is ErrTruncated
// (or a header error for prefixes shorter than the header), and a byte
// appended is ErrTrailing; the result is the zero value (rule: no partial
// result).
func TestTruncatedAndTrailing(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.enc()
			require.NoError(t, err)
			for n := 0; n < len(b); n++ {
				v, err := c.dec(b[:n])
				require.ErrorIs(t, err, ErrTruncated, "prefix %d", n)
				require.Zero(t, isZero(v))
			}
			_, err = c.dec(append(append([]byte{}, b...), 0))
			require.ErrorIs(t, err, ErrTrailing)
		})
	}
}

func isZero(v any) int {
	switch x := v.(type) {
	case ClientHello:
		if x.Offered != nil || x.SignCert != nil || x.Profile != 0 {
			return 1
		}
	case ServerHello:
		if x.SignCert != nil || x.Profile != 0 {
			return 1
		}
	case Record:
		if x.Ciphertext != nil || x.Profile != 0 {
			return 1
		}
	}
	return 0
}

// TestHeaderRules: one case per header rule, each its own sentinel.
func TestHeaderRules(t *testing.T) {
	ch, err := goldenCH.Marshal()
	require.NoError(t, err)
	mut := func(f func(b []byte)) []byte { b := append([]byte{}, ch...); f(b); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"version", mut(func(b []byte) { b[0] = 2 }), ErrVersion},
		{"profile 0", mut(func(b []byte) { b[1] = 0 }), ErrUnknownProfile},
		{"profile 9", mut(func(b []byte) { b[1] = 9 }), ErrUnknownProfile},
		{"type unknown", mut(func(b []byte) { b[2] = 0x42 }), ErrUnknownType},
		{"rsa type under gm-fs", mut(func(b []byte) { b[2] = byte(TypeRSAHello) }), ErrUnknownType},
		{"other type", mut(func(b []byte) { b[2] = byte(TypeServerHello) }), ErrUnexpectedType},
		{"too large", mut(func(b []byte) { b[3] = 1 }), ErrTooLarge},
		{"length short", mut(func(b []byte) { b[6]-- }), ErrTrailing},
		{"length long", mut(func(b []byte) { b[6]++ }), ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseClientHello(tc.b)
			require.ErrorIs(t, err, tc.want)
			var fe *FormatError
			require.True(t, errors.As(err, &fe))
			require.Equal(t, ClientHello{}, m)
		})
	}
}

// TestFieldRules: the per-profile field rules, each with its sentinel.
func TestFieldRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  func() ([]byte, error)
		want error
	}{
		{"gm-fs hello without ephemeral", func() ([]byte, error) { m := goldenCH; m.Ephemeral = nil; return m.Marshal() }, ErrLength},
		{"gm hello with ephemeral", func() ([]byte, error) { m := goldenCHgm; m.Ephemeral = fill(65, 4); return m.Marshal() }, ErrLength},
		{"offered empty", func() ([]byte, error) { m := goldenCH; m.Offered = nil; return m.Marshal() }, ErrLength},
		{"offered repeated", func() ([]byte, error) {
			m := goldenCH
			m.Offered = []Profile{ProfileGMFS, ProfileGMFS}
			return m.Marshal()
		}, ErrField},
		{"offered unknown", func() ([]byte, error) { m := goldenCH; m.Offered = []Profile{ProfileGMFS, 7}; return m.Marshal() }, ErrField},
		{"offered lacks proposed", func() ([]byte, error) { m := goldenCH; m.Offered = []Profile{ProfileGM}; return m.Marshal() }, ErrField},
		{"hello optee profile", func() ([]byte, error) { m := goldenCH; m.Profile = ProfileOpteeRSA; return m.Marshal() }, ErrUnknownProfile},
		{"cert empty", func() ([]byte, error) { m := goldenCH; m.SignCert = nil; return m.Marshal() }, ErrLength},
		{"cert too long", func() ([]byte, error) { m := goldenCH; m.EncCert = fill(MaxCert+1, 1); return m.Marshal() }, ErrLength},
		{"signature too long", func() ([]byte, error) { m := goldenSH; m.Signature = fill(73, 1); return m.Marshal() }, ErrLength},
		{"gm finished present", func() ([]byte, error) { m := goldenCFgm; m.Finished = fill(32, 1); return m.Marshal() }, ErrLength},
		{"gm-fs confirm short", func() ([]byte, error) { m := goldenCF; m.Confirm = fill(31, 1); return m.Marshal() }, ErrLength},
		{"sealed mode", func() ([]byte, error) { m := goldenRH; m.Sealed.Mode = 3; return m.Marshal() }, ErrField},
		{"sealed direct payload", func() ([]byte, error) { m := goldenRHd; m.Sealed.Payload = fill(16, 1); return m.Marshal() }, ErrLength},
		{"rsa block short", func() ([]byte, error) { m := goldenRR; m.Signature = fill(255, 1); return m.Marshal() }, ErrLength},
		{"record cbc unaligned", func() ([]byte, error) { m := goldenRecR; m.Ciphertext = fill(17, 1); return m.Marshal() }, ErrLength},
		{"record gcm short", func() ([]byte, error) { m := goldenRecG; m.Ciphertext = fill(15, 1); return m.Marshal() }, ErrLength},
		{"record gcm with iv", func() ([]byte, error) { m := goldenRecG; m.IV = fill(16, 1); return m.Marshal() }, ErrField},
		{"record too large", func() ([]byte, error) { m := goldenRecG; m.Ciphertext = fill(MaxPlaintext+17, 1); return m.Marshal() }, ErrLength},
		{"app device id empty", func() ([]byte, error) { m := goldenApp; m.DeviceID = nil; return m.Marshal() }, ErrLength},
		{"app custom too large", func() ([]byte, error) { m := goldenApp; m.Custom = fill(MaxCustom+1, 1); return m.Marshal() }, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.enc()
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, b)
		})
	}
}

// TestParseFieldRules: the same rules enforced by the decoders on bytes
// crafted by hand.
func TestParseFieldRules(t *testing.T) {
	ch, err := goldenCH.Marshal()
	require.NoError(t, err)
	b := append([]byte{}, ch...)
	b[HeaderSize+2] = byte(ProfileGMFS) // offered [gm-fs, gm-fs]
	_, err = ParseClientHello(b)
	require.ErrorIs(t, err, ErrField)

	// a gm-fs ClientHello relabelled gm: the ephemeral length is wrong
	b = append([]byte{}, ch...)
	b[1] = byte(ProfileGM)
	_, err = ParseClientHello(b)
	require.ErrorIs(t, err, ErrLength)
	rec, err := goldenRecR.Marshal()
	require.NoError(t, err)
	b = append([]byte{}, rec...)
	b[HeaderSize+8+16+3] = 17 // ciphertext length 17: rejected before the take
	_, err = ParseRecord(b)
	require.Error(t, err)
}

// TestAppMessage: TLV round trip with and without the signature, and the
// order/tag rules.
func TestAppMessage(t *testing.T) {
	for _, m := range []AppMessage{goldenApp, goldenApp0} {
		b, err := m.Marshal()
		require.NoError(t, err)
		got, err := ParseAppMessage(b)
		require.NoError(t, err)
		assert.Equal(t, m, got)
		c, err := m.Content()
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(b, c))
	}
	b, err := goldenApp.Marshal()
	require.NoError(t, err)
	swapped := append([]byte{}, b...)
	swapped[0] = TagUserID
	_, err = ParseAppMessage(swapped)
	require.ErrorIs(t, err, ErrField)
	_, err = ParseAppMessage(append(b, TagCustom, 0, 0))
	require.ErrorIs(t, err, ErrTrailing)
	for n := 0; n < len(b); n++ {
		m, err := ParseAppMessage(b[:n])
		if err == nil { // a prefix ending exactly before the signature TLV is a valid unsigned message
			c, _ := goldenApp.Content()
			require.Equal(t, len(c), n)
			continue
		}
		require.ErrorIs(t, err, ErrTruncated)
		require.Equal(t, AppMessage{}, m)
	}
}

// TestPlaintexts: the optee-rsa plaintext codecs.
func TestPlaintexts(t *testing.T) {
	hp := RSAHelloPlain{RandomA: rnd(1), DeviceID: []byte("dev"), DeviceKey: fill(294, 0x30)}
	b, err := hp.Marshal()
	require.NoError(t, err)
	got, err := ParseRSAHelloPlain(b)
	require.NoError(t, err)
	assert.Equal(t, hp, got)
	_, err = ParseRSAHelloPlain(b[:len(b)-1])
	require.ErrorIs(t, err, ErrTruncated)

	rp := RSAResponsePlain{RandomB: rnd(2), RandomA: rnd(1)}
	b, _ = rp.Marshal()
	got2, err := ParseRSAResponsePlain(b)
	require.NoError(t, err)
	assert.Equal(t, rp, got2)
	_, err = ParseRSAResponsePlain(append(b, 0))
	require.ErrorIs(t, err, ErrTrailing)

	cp := RSAConfirmPlain{RandomC: rnd(3), Signature: fill(256, 9)}
	b, err = cp.Marshal()
	require.NoError(t, err)
	got3, err := ParseRSAConfirmPlain(b)
	require.NoError(t, err)
	assert.Equal(t, cp, got3)
}

// TestSignedParts: SignedPart and MACedPart are prefixes of the body.
func TestSignedParts(t *testing.T) {
	full, err := goldenSH.Marshal()
	require.NoError(t, err)
	sp, err := goldenSH.SignedPart()
	require.NoError(t, err)
	mp, err := goldenSH.MACedPart()
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(full[HeaderSize:], mp))
	assert.True(t, bytes.HasPrefix(mp, sp))
	assert.Equal(t, len(full)-HeaderSize-1-FinishedSize, len(mp))

	full, err = goldenCF.Marshal()
	require.NoError(t, err)
	sp, _ = goldenCF.SignedPart()
	assert.Equal(t, append([]byte{32}, goldenCF.Confirm...), sp)
	assert.True(t, bytes.HasPrefix(full[HeaderSize:], sp))

	full, err = goldenRR.Marshal()
	require.NoError(t, err)
	sp, err = goldenRR.SignedPart()
	require.NoError(t, err)
	assert.Equal(t, full[:len(full)-2-256], sp)

	full, err = goldenRecR.Marshal()
	require.NoError(t, err)
	sp, err = goldenRecR.SignedPart()
	require.NoError(t, err)
	assert.Equal(t, full[:len(full)-2-256], sp)

	full, err = goldenRecG.Marshal()
	require.NoError(t, err)
	assert.Equal(t, full[:HeaderSize+8], goldenRecG.AAD())
}

// TestProfileNames: names round-trip.
func TestProfileNames(t *testing.T) {
	for _, p := range []Profile{ProfileOpteeRSA, ProfileGM, ProfileGMFS} {
		q, ok := ParseProfile(p.String())
		require.True(t, ok)
		require.Equal(t, p, q)
	}
	_, ok := ParseProfile("tls")
	require.False(t, ok)
}
