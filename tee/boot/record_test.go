package boot

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

func TestRecordRoundTripEveryRole(t *testing.T) {
	for _, role := range tee.Roles {
		t.Run(string(role), func(t *testing.T) {
			rec := mustProvision(t, testFused(), testBootID(0), role)
			b, err := rec.Marshal()
			require.NoError(t, err)
			assert.Len(t, b, recordFixedSize+len(rec.Keys)*recordRouteSize)
			got, err := Parse(b)
			require.NoError(t, err)
			assert.Equal(t, rec.Role, got.Role)
			assert.Equal(t, rec.UUID, got.UUID)
			assert.Equal(t, rec.BootID, got.BootID)
			assert.Equal(t, rec.ClockOriginNs, got.ClockOriginNs)
			assert.Equal(t, rec.StorageKey, got.StorageKey)
			assert.Equal(t, rec.Keys, got.Keys)
		})
	}
}

// TestRecordOnlyOwnRoutes is docs/architecture.md rule 2: a TA gets the keys of the
// routes it is an endpoint of and of no other route.
func TestRecordOnlyOwnRoutes(t *testing.T) {
	want := map[tee.Role]int{tee.RoleKeymaster: 3, tee.RoleGatekeeper: 1, tee.RoleFingerprint: 2, tee.RolePayment: 2}
	for _, role := range tee.Roles {
		rec := mustProvision(t, testFused(), testBootID(0), role)
		assert.Len(t, rec.Keys, want[role], role)
		for _, r := range tee.Routes {
			k, ok := rec.Keys[r]
			if r.From == rec.UUID || r.To == rec.UUID {
				require.True(t, ok, "%s lacks its route %s", role, r)
				assert.Equal(t, DeriveEnvelopeKey(testFused(), testBootID(0), r), k)
			} else {
				assert.False(t, ok, "%s holds the key of foreign route %s", role, r)
			}
		}
		// Nor do the encoded bytes contain any foreign route's key.
		b, err := rec.Marshal()
		require.NoError(t, err)
		for _, r := range tee.Routes {
			if r.From != rec.UUID && r.To != rec.UUID {
				k := DeriveEnvelopeKey(testFused(), testBootID(0), r)
				assert.False(t, bytes.Contains(b, k[:]), "%s record carries %s's key", role, r)
			}
		}
	}
}

func TestRecordGolden(t *testing.T) {
	path := filepath.Join("testdata", "record_gatekeeper_v1.hex")
	rec := mustProvision(t, testFused(), testBootID(0), tee.RoleGatekeeper)
	b, err := rec.Marshal()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	assert.Equal(t, want, b)
	assert.Equal(t, []byte("FPPR\x01"), want[:5])
	assert.Equal(t, tee.UUIDGatekeeper[:], want[5:21])
	assert.Equal(t, byte(1), want[77], "gatekeeper has one route")
}

func TestMarshalRefuses(t *testing.T) {
	mk := func(mod func(r *Record)) Record {
		r := mustProvision(t, testFused(), testBootID(0), tee.RoleFingerprint)
		mod(&r)
		return r
	}
	kmFP := tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDFingerprint}
	cases := []struct {
		name string
		rec  Record
	}{
		{"zero record", Record{}},
		{"unknown role", mk(func(r *Record) { r.Role = "modem" })},
		{"uuid of another role", mk(func(r *Record) { r.UUID = tee.UUIDPayment })},
		{"zero storage key", mk(func(r *Record) { r.StorageKey = StorageKey{} })},
		{"missing route", mk(func(r *Record) { delete(r.Keys, kmFP) })},
		{"zero route key", mk(func(r *Record) { r.Keys[kmFP] = envelope.Key{} })},
		{"foreign route", mk(func(r *Record) {
			r.Keys[tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}] = envelope.Key{1}
		})},
		{"foreign route instead of own", mk(func(r *Record) {
			delete(r.Keys, kmFP)
			r.Keys[tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}] = envelope.Key{1}
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.rec.Marshal()
			require.ErrorIs(t, err, ErrMalformedRecord)
			assert.Nil(t, b)
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, err := mustProvision(t, testFused(), testBootID(0), tee.RoleFingerprint).Marshal()
	require.NoError(t, err)
	gk, err := mustProvision(t, testFused(), testBootID(0), tee.RoleGatekeeper).Marshal()
	require.NoError(t, err)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	route0 := recordFixedSize
	route1 := recordFixedSize + recordRouteSize
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrMalformedRecord},
		{"header only", good[:recordFixedSize], ErrMalformedRecord},
		{"short header", good[:recordFixedSize-1], ErrMalformedRecord},
		{"truncated", good[:len(good)-1], ErrMalformedRecord},
		{"trailing byte", append(append([]byte(nil), good...), 0), ErrMalformedRecord},
		{"too large", make([]byte, MaxRecordSize+1), ErrRecordTooLarge},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrMalformedRecord},
		{"version 0", mod(func(b []byte) []byte { b[4] = 0; return b }), ErrMalformedRecord},
		{"version 2", mod(func(b []byte) []byte { b[4] = 2; return b }), ErrMalformedRecord},
		{"unknown TA", mod(func(b []byte) []byte { b[5] ^= 0xFF; return b }), ErrMalformedRecord},
		{"zero storage key", mod(func(b []byte) []byte { clear(b[45:77]); return b }), ErrMalformedRecord},
		{"count too high", mod(func(b []byte) []byte { b[77]++; return b }), ErrMalformedRecord},
		{"count too low", mod(func(b []byte) []byte { b[77]--; return b[:len(b)-recordRouteSize] }), ErrMalformedRecord},
		{"routes swapped", mod(func(b []byte) []byte {
			r0 := append([]byte(nil), b[route0:route1]...)
			copy(b[route0:route1], b[route1:route1+recordRouteSize])
			copy(b[route1:], r0)
			return b
		}), ErrMalformedRecord},
		{"route duplicated", mod(func(b []byte) []byte { copy(b[route1:], b[route0:route1]); return b }), ErrMalformedRecord},
		{"foreign route", mod(func(b []byte) []byte { copy(b[route0+16:], tee.UUIDGatekeeper[:]); return b }), ErrMalformedRecord},
		{"zero route key", mod(func(b []byte) []byte { clear(b[route0+32 : route1]); return b }), ErrMalformedRecord},
		{"another TA's UUID", mod(func(b []byte) []byte { copy(b[5:21], tee.UUIDGatekeeper[:]); return b }), ErrMalformedRecord},
		{"gatekeeper record with fingerprint UUID", func() []byte {
			b := append([]byte(nil), gk...)
			copy(b[5:21], tee.UUIDFingerprint[:])
			return b
		}(), ErrMalformedRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := Parse(c.b)
			require.ErrorIs(t, err, c.want)
			assert.Equal(t, "boot.Record{Role: , UUID: 00000000-0000-0000-0000-000000000000, BootID: 00000000000000000000000000000000, ClockOriginNs: 0, StorageKey: [redacted], Keys: [0 redacted]}", rec.String(), "no partial result")
			assert.Nil(t, rec.Keys)
			assert.Equal(t, StorageKey{}, rec.StorageKey)
		})
	}
}

func TestRecordWipe(t *testing.T) {
	rec := mustProvision(t, testFused(), testBootID(0), tee.RoleKeymaster)
	keys := rec.Keys
	rec.Wipe()
	assert.Equal(t, StorageKey{}, rec.StorageKey)
	assert.Empty(t, keys)
}

func TestSecretsRedacted(t *testing.T) {
	fused := testFused()
	rec := mustProvision(t, fused, testBootID(0), tee.RolePayment)
	dev := NewDevice(fused, testBootID(0), 7)
	secrets := [][]byte{fused[:], rec.StorageKey[:]}
	for _, k := range rec.Keys {
		secrets = append(secrets, k[:])
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		assert.Equal(t, redacted, fmt.Sprintf(verb, fused), verb)
		assert.Equal(t, redacted, fmt.Sprintf(verb, rec.StorageKey), verb)
		for _, out := range []string{fmt.Sprintf(verb, rec), fmt.Sprintf(verb, &rec), fmt.Sprintf(verb, dev)} {
			for _, s := range secrets {
				assert.NotContains(t, out, hex.EncodeToString(s[:4]), verb)
				assert.NotContains(t, out, fmt.Sprint(s[:4]), verb)
			}
		}
	}
	assert.Contains(t, fmt.Sprint(rec), "payment")
	assert.Contains(t, fmt.Sprint(dev), testBootID(0).String())
	txt, err := rec.StorageKey.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, redacted, string(txt))
	txt, err = fused.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, redacted, string(txt))
}

// FuzzParse: Parse never panics, returns nothing on error, and re-encodes
// whatever it accepts to the same bytes.
func FuzzParse(f *testing.F) {
	for _, role := range tee.Roles {
		b, err := mustProvision(f, testFused(), testBootID(0), role).Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	pay := mustProvision(f, testFused(), testBootID(0), tee.RolePayment)
	pay.Anchors = []byte("anchors")
	b2, err := pay.Marshal()
	require.NoError(f, err)
	f.Add(b2)
	f.Add([]byte{})
	f.Add([]byte("FPPR\x01"))
	f.Add(make([]byte, recordFixedSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Parse(b)
		if err != nil {
			require.Nil(t, rec.Keys)
			require.Nil(t, rec.Anchors)
			require.Equal(t, StorageKey{}, rec.StorageKey)
			require.Equal(t, tee.UUID{}, rec.UUID)
			return
		}
		out, err := rec.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
		for r := range rec.Keys {
			require.True(t, r.From == rec.UUID || r.To == rec.UUID)
		}
	})
}

// TestRecordAnchors: the payment TA's record carries the trust anchors
// (version 2, docs/protocol.md §5.3); no other TA's may; the length is
// checked exactly and bounded.
func TestRecordAnchors(t *testing.T) {
	anchors := []byte("anchors: opaque to the launcher")
	rec := mustProvision(t, testFused(), testBootID(0), tee.RolePayment)
	rec.Anchors = anchors
	b, err := rec.Marshal()
	require.NoError(t, err)
	assert.Equal(t, byte(RecordVersionAnchors), b[4])
	assert.Len(t, b, recordFixedSize+len(rec.Keys)*recordRouteSize+2+len(anchors))
	got, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, anchors, got.Anchors)
	assert.Equal(t, rec.Keys, got.Keys)

	tests := []struct {
		name string
		b    []byte
	}{
		{"truncated anchors", b[:len(b)-1]},
		{"trailing byte", append(bytes.Clone(b), 0)},
		{"no anchor length", b[:len(b)-len(anchors)-2]},
		{"zero anchor length", append(bytes.Clone(b[:len(b)-len(anchors)-2]), 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.b)
			require.ErrorIs(t, err, ErrMalformedRecord)
			assert.Nil(t, r.Anchors, "no partial result")
		})
	}

	gk := mustProvision(t, testFused(), testBootID(0), tee.RoleGatekeeper)
	gk.Anchors = anchors
	_, err = gk.Marshal()
	require.ErrorIs(t, err, ErrMalformedRecord, "only the payment TA takes anchors")

	rec.Anchors = make([]byte, MaxAnchors+1)
	_, err = rec.Marshal()
	require.ErrorIs(t, err, ErrMalformedRecord)
}
