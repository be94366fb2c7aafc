package payment

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
)

func sampleRecord(t testing.TB) keyRecord {
	t.Helper()
	d := newDevice(t)
	ta := d.open(t)
	r := keyRecord{kind: proof.KindScene, invalidated: true, owner: ownerA, cert: ta.DeviceCert(), fingers: []uint32{1, 2},
		bootID: []byte("boot-1"), createdMs: 123456}
	for i := range r.scalar {
		r.scalar[i] = byte(i + 1)
	}
	return r
}

func TestKeyRecordCodec(t *testing.T) {
	r := sampleRecord(t)
	b, err := r.marshal()
	require.NoError(t, err)
	got, err := parseKeyRecord(b)
	require.NoError(t, err)
	assert.Equal(t, r, got)

	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	for name, bad := range map[string][]byte{
		"nil":          nil,
		"version":      mod(func(b []byte) []byte { b[0] = 9; return b }),
		"kind":         mod(func(b []byte) []byte { b[1] = 4; return b }),
		"flag":         mod(func(b []byte) []byte { b[2] = 2; return b }),
		"truncated":    b[:len(b)-1],
		"trailing":     append(append([]byte(nil), b...), 0),
		"cert len 0":   mod(func(b []byte) []byte { b[51], b[52] = 0, 0; return b }),
		"app w/ flag":  mod(func(b []byte) []byte { b[1] = byte(proof.KindApp); return b }),
		"cert framing": mod(func(b []byte) []byte { b[53] ^= 0xFF; return b }),
		"no owner":     b[:3+15],
		"boot id 0":    mod(func(b []byte) []byte { b[len(b)-8-6-1] = 0; return b }),
		"no time":      b[:len(b)-8],
	} {
		got, err := parseKeyRecord(bad)
		require.ErrorIs(t, err, ErrCorruptRecord, name)
		assert.Equal(t, keyRecord{}, got, name)
	}

	dev := keyRecord{kind: proof.KindDevice, owner: ownerA, cert: r.cert, bootID: r.bootID}
	db, err := dev.marshal()
	require.NoError(t, err)
	_, err = parseKeyRecord(db)
	require.ErrorIs(t, err, ErrCorruptRecord, "the device key has no owner")
}

// TestKeyRecordV1: a record written before keys had owners (layout
// version 1: no owner field) still opens, with the nil owner, and is
// rewritten as version 2.
func TestKeyRecordV1(t *testing.T) {
	r := sampleRecord(t)
	b, err := r.marshal()
	require.NoError(t, err)
	v1 := append([]byte{recordVersionNoOwner}, b[1:3]...)
	v1 = append(v1, b[3+16:]...)
	got, err := parseKeyRecord(v1)
	require.NoError(t, err)
	want := r
	want.owner = tee.UUID{}
	assert.Equal(t, want, got)
	out, err := got.marshal()
	require.NoError(t, err)
	assert.Equal(t, byte(recordVersion), out[0])
}
