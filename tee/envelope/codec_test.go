package envelope

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func sampleEnvelope(n int) Envelope {
	e := Envelope{
		Header: Header{Version: Version, From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper, Type: MsgAuthTokenKey, Seq: 0x0102030405060708},
		Sealed: bytes.Repeat([]byte{0xA5}, n+TagSize),
	}
	for i := range e.Nonce {
		e.Nonce[i] = byte(0xC0 + i)
	}
	return e
}

func TestCodecRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 64, MaxPayload} {
		e := sampleEnvelope(n)
		b, err := e.Marshal()
		require.NoError(t, err)
		require.Len(t, b, Overhead+n)
		got, err := Parse(b)
		require.NoError(t, err)
		assert.Equal(t, e, got)
		ad, err := got.AssociatedData()
		require.NoError(t, err)
		assert.Equal(t, b[:HeaderSize], ad, "associated data is the header prefix of the wire bytes")
		assert.Equal(t, uint32(n), binary.BigEndian.Uint32(b[offLen:HeaderSize]))
	}
}

func TestCodecLayout(t *testing.T) {
	e := sampleEnvelope(3)
	b, err := e.Marshal()
	require.NoError(t, err)
	assert.Equal(t, Version, b[0])
	assert.Equal(t, tee.UUIDKeymaster[:], b[1:17])
	assert.Equal(t, tee.UUIDGatekeeper[:], b[17:33])
	assert.Equal(t, []byte{0, 0, 0, 1}, b[33:37])
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, b[37:45])
	assert.Equal(t, e.Nonce[:], b[45:57])
	assert.Equal(t, []byte{0, 0, 0, 3}, b[57:61])
	assert.Equal(t, e.Sealed, b[61:])
}

func TestParseCopies(t *testing.T) {
	b, err := sampleEnvelope(4).Marshal()
	require.NoError(t, err)
	e, err := Parse(b)
	require.NoError(t, err)
	b[HeaderSize] ^= 0xFF
	assert.Equal(t, byte(0xA5), e.Sealed[0], "Parse must not alias its input")
}

func TestParseRejects(t *testing.T) {
	good, err := sampleEnvelope(8).Marshal()
	require.NoError(t, err)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"header only", good[:HeaderSize]},
		{"one short of minimum", good[:Overhead-1]},
		{"truncated tag", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"version 0", mod(func(b []byte) []byte { b[0] = 0; return b })},
		{"version 2", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"sequence 0", mod(func(b []byte) []byte { clear(b[offSeq:offNonce]); return b })},
		{"length says more", mod(func(b []byte) []byte { b[HeaderSize-1]++; return b })},
		{"length says less", mod(func(b []byte) []byte { b[HeaderSize-1]--; return b })},
		{"length over max", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLen:], MaxPayload+1)
			return b
		})},
		{"length 2^32-1", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLen:], 0xFFFFFFFF)
			return b
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Parse(c.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, Envelope{}, e, "no partial result")
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	cases := []struct {
		name string
		mod  func(e *Envelope)
	}{
		{"bad version", func(e *Envelope) { e.Version = 9 }},
		{"zero sequence", func(e *Envelope) { e.Seq = 0 }},
		{"no tag", func(e *Envelope) { e.Sealed = e.Sealed[:TagSize-1] }},
		{"too large", func(e *Envelope) { e.Sealed = make([]byte, MaxPayload+TagSize+1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := sampleEnvelope(2)
			c.mod(&e)
			b, err := e.Marshal()
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, b)
		})
	}
}

// FuzzParse checks that Parse never panics, returns nothing on error, and
// that everything it accepts re-encodes to exactly the same bytes (the
// header is canonical, so the associated data is well defined).
func FuzzParse(f *testing.F) {
	for _, n := range []int{0, 1, 32, 64} {
		b, err := sampleEnvelope(n).Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, Envelope{}, e)
			return
		}
		out, err := e.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
		ad, err := e.AssociatedData()
		require.NoError(t, err)
		require.Equal(t, b[:HeaderSize], ad)
	})
}
