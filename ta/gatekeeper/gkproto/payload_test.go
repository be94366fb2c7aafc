package gkproto

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnrollPayloadRoundTrip(t *testing.T) {
	p := EnrollPayload{
		CurrentHandle:   bytes.Repeat([]byte{1}, HandleSize),
		CurrentPassword: []byte("old\x00pw"),
		DesiredPassword: []byte("new"),
	}
	b := p.Marshal()
	assert.Equal(t, []byte{58, 0, 0, 0}, b[:4])
	got, err := ParseEnrollPayload(b)
	require.NoError(t, err)
	assert.Equal(t, p, got)

	empty := EnrollPayload{DesiredPassword: []byte{0}}
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, empty.Marshal())
	got, err = ParseEnrollPayload(empty.Marshal())
	require.NoError(t, err)
	assert.Nil(t, got.CurrentHandle)
	assert.Nil(t, got.CurrentPassword)
	assert.Equal(t, []byte{0}, got.DesiredPassword)
}

func TestVerifyPayloadRoundTrip(t *testing.T) {
	p := VerifyPayload{Handle: []byte{1, 2, 3}, Password: []byte{0, 0}}
	b := p.Marshal()
	assert.Equal(t, []byte{3, 0, 0, 0, 1, 2, 3, 2, 0, 0, 0, 0, 0}, b)
	got, err := ParseVerifyPayload(b)
	require.NoError(t, err)
	assert.Equal(t, p, got)
	// The result does not alias the input.
	b[4] = 9
	assert.Equal(t, byte(1), got.Handle[0])
}

func TestPayloadErrors(t *testing.T) {
	valid := VerifyPayload{Handle: []byte{1}, Password: []byte{2}}.Marshal()
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated prefix", []byte{1, 0}},
		{"length past end", []byte{9, 0, 0, 0, 1}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 1}},
		{"missing second field", []byte{1, 0, 0, 0, 1}},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseVerifyPayload(tc.in)
			require.ErrorIs(t, err, ErrPayload)
			assert.Zero(t, p)
		})
	}
	p, err := ParseEnrollPayload(valid) // two fields where three are needed
	require.ErrorIs(t, err, ErrPayload)
	assert.Zero(t, p)
}

func FuzzParseEnrollPayload(f *testing.F) {
	f.Add(EnrollPayload{DesiredPassword: []byte("pw")}.Marshal())
	f.Add(EnrollPayload{CurrentHandle: make([]byte, HandleSize), CurrentPassword: []byte("a\x00b"), DesiredPassword: []byte("c")}.Marshal())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseEnrollPayload(b)
		if err != nil {
			if p.CurrentHandle != nil || p.CurrentPassword != nil || p.DesiredPassword != nil {
				t.Fatal("partial result with error")
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("round trip: %x != %x", p.Marshal(), b)
		}
	})
}

func FuzzParseVerifyPayload(f *testing.F) {
	f.Add(VerifyPayload{Handle: make([]byte, HandleSize), Password: []byte("pw")}.Marshal())
	f.Add(VerifyPayload{}.Marshal())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseVerifyPayload(b)
		if err != nil {
			if p.Handle != nil || p.Password != nil {
				t.Fatal("partial result with error")
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("round trip: %x != %x", p.Marshal(), b)
		}
	})
}
