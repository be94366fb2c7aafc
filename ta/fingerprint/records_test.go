package fingerprint

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordVectors pins the sealed-record plaintexts of docs/protocol.md
// §9 byte for byte, and checks that they parse back.
func TestRecordVectors(t *testing.T) {
	tr := templateRecord{SID: 0x0102030405060708, Matcher: "m1", Template: []byte{0xAA, 0xBB}}
	b, err := tr.marshal()
	require.NoError(t, err)
	assert.Equal(t, "01"+"0102030405060708"+"02"+"6d31"+"00000002"+"aabb", hex.EncodeToString(b))
	got, err := parseTemplateRecord(b)
	require.NoError(t, err)
	assert.Equal(t, tr, got)

	gr := groupRecord{AuthenticatorID: 0x1122334455667788}
	assert.Equal(t, "01"+"1122334455667788", hex.EncodeToString(gr.marshal()))
	g, err := parseGroupRecord(gr.marshal())
	require.NoError(t, err)
	assert.Equal(t, gr, g)

	l := Lockout{Failed: 5, TimedUntilMs: 0x7530, BootID: []byte{0xB0, 0xB1}}
	lb, err := l.marshal()
	require.NoError(t, err)
	assert.Equal(t, "01"+"00000005"+"0000000000007530"+"02"+"b0b1", hex.EncodeToString(lb))
	l2, err := parseLockout(lb)
	require.NoError(t, err)
	assert.Equal(t, l, l2)
}

// TestRecordRejects: every parser refuses truncation, trailing bytes,
// a wrong version and out-of-range lengths.
func TestRecordRejects(t *testing.T) {
	tr, _ := templateRecord{SID: 1, Matcher: "m", Template: []byte{1}}.marshal()
	gr := groupRecord{AuthenticatorID: 1}.marshal()
	lr, _ := Lockout{Failed: 1, BootID: []byte{1}}.marshal()
	mut := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	parsers := map[string]func([]byte) error{
		"template": func(b []byte) error { _, err := parseTemplateRecord(b); return err },
		"group":    func(b []byte) error { _, err := parseGroupRecord(b); return err },
		"lockout":  func(b []byte) error { _, err := parseLockout(b); return err },
	}
	cases := map[string][][]byte{
		"template": {nil, tr[:len(tr)-1], append(tr, 0), mut(tr, 0, 2), mut(tr, 9, 0), mut(tr, 9, 65)},
		"group":    {nil, gr[:8], append(gr, 0), mut(gr, 0, 0), make([]byte, 9)},
		"lockout":  {nil, lr[:len(lr)-1], append(lr, 0), mut(lr, 0, 9), mut(lr, 13, 0), mut(lr, 13, 65)},
	}
	for name, bs := range cases {
		for i, b := range bs {
			assert.ErrorIs(t, parsers[name](b), ErrRecord, "%s case %d", name, i)
		}
	}
	_, err := templateRecord{SID: 1, Matcher: "", Template: []byte{1}}.marshal()
	assert.ErrorIs(t, err, ErrRecord)
	_, err = Lockout{Failed: 1}.marshal()
	assert.ErrorIs(t, err, ErrRecord)
}

func FuzzParseTemplateRecord(f *testing.F) {
	b, _ := templateRecord{SID: 7, Matcher: "fpemu-minutiae-v1", Template: []byte("FPMT")}.marshal()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseTemplateRecord(b)
		if err != nil {
			require.Equal(t, templateRecord{}, r)
			return
		}
		out, err := r.marshal()
		require.NoError(t, err)
		require.Equal(t, b, out, "canonical")
	})
}

func FuzzParseGroupRecord(f *testing.F) {
	f.Add(groupRecord{AuthenticatorID: 9}.marshal())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseGroupRecord(b)
		if err != nil {
			require.Equal(t, groupRecord{}, r)
			return
		}
		require.Equal(t, b, r.marshal())
	})
}

func FuzzParseLockout(f *testing.F) {
	b, _ := Lockout{Failed: 5, TimedUntilMs: 1, BootID: []byte("boot")}.marshal()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLockout(b)
		if err != nil {
			require.Equal(t, Lockout{}, l)
			return
		}
		out, err := l.marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}
