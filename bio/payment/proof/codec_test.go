package proof

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCertRoundTripAndLayout(t *testing.T) {
	c := newChain(t)
	for _, cert := range []Cert{c.dev, c.app, c.scene} {
		b := marshal(t, cert)
		assert.Equal(t, Version, b[0])
		assert.Equal(t, byte(cert.Kind), b[1])
		assert.Equal(t, cert.DeviceID[:], b[2:18])
		assert.Equal(t, cert.Serial, binary.BigEndian.Uint64(b[18:26]))
		assert.Equal(t, cert.PublicKey[:], b[70:135])
		assert.Equal(t, uint16(len(cert.AppID)), binary.BigEndian.Uint16(b[135:137]))
		assert.Len(t, b, 135+4+len(cert.AppID)+len(cert.Scene))
		got, err := ParseCert(b)
		require.NoError(t, err)
		assert.Equal(t, cert, got)
	}
	b := marshal(t, c.scene)
	assert.Equal(t, c.scene.FingerBinding[:], b[38:70])
	assert.Equal(t, uint64(0x0102030405060708), binary.BigEndian.Uint64(b[30:38]))
}

func TestStatementRoundTripAndLayout(t *testing.T) {
	c := newChain(t)
	b := marshal(t, c.st)
	assert.Equal(t, []byte{Version, byte(KindPayment)}, b[:2])
	assert.Equal(t, c.st.Counter, binary.BigEndian.Uint64(b[18:26]))
	assert.Equal(t, c.st.Challenge, binary.BigEndian.Uint64(b[26:34]))
	assert.Equal(t, c.st.PayloadHash[:], b[34:66])
	assert.Equal(t, c.st.FingerID, binary.BigEndian.Uint32(b[66:70]))
	assert.Equal(t, c.st.SensorVersion, binary.BigEndian.Uint32(b[78:82]))
	assert.Len(t, b, 82+4+len(c.st.AppID)+len(c.st.Scene))
	got, err := ParseStatement(b)
	require.NoError(t, err)
	assert.Equal(t, c.st, got)
}

func TestSignedRoundTrip(t *testing.T) {
	c := newChain(t)
	s, err := ParseSigned(c.stSigned)
	require.NoError(t, err)
	assert.Equal(t, c.stSigned, marshal(t, s))
	assert.Equal(t, marshal(t, c.st), s.Body)
}

func TestCertRejects(t *testing.T) {
	c := newChain(t)
	good := marshal(t, c.scene)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"version", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"kind 0", mod(func(b []byte) []byte { b[1] = 0; return b })},
		{"kind payment", mod(func(b []byte) []byte { b[1] = byte(KindPayment); return b })},
		{"compressed key", mod(func(b []byte) []byte { b[70] = 0x02; return b })},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"app len over max", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[135:], MaxAppIDLen+1); return b })},
		{"app len past end", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[135:], 0xFFFF); return b })},
		{"scene as app cert", mod(func(b []byte) []byte { b[1] = byte(KindApp); return b })},
		{"too long", make([]byte, MaxCertSize+1)},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			got, err := ParseCert(cs.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, Cert{}, got)
		})
	}
	bad := []Cert{
		{Kind: KindDevice, PublicKey: c.dev.PublicKey, AppID: "x"},
		{Kind: KindApp, PublicKey: c.dev.PublicKey},
		{Kind: KindApp, PublicKey: c.dev.PublicKey, AppID: "a", Scene: "s"},
		{Kind: KindApp, PublicKey: c.dev.PublicKey, AppID: "a", GroupID: 1},
		{Kind: KindScene, PublicKey: c.dev.PublicKey, AppID: "a"},
		{Kind: KindScene, PublicKey: c.dev.PublicKey, AppID: "a", Scene: strings.Repeat("s", MaxSceneLen+1)},
		{Kind: KindScene, AppID: "a", Scene: "s"},
		{Kind: KindPayment, PublicKey: c.dev.PublicKey, AppID: "a", Scene: "s"},
	}
	for i, cert := range bad {
		b, err := cert.Marshal()
		require.ErrorIs(t, err, ErrMalformed, "case %d", i)
		assert.Nil(t, b)
	}
}

func TestStatementRejects(t *testing.T) {
	c := newChain(t)
	good := marshal(t, c.st)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, cs := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"kind scene", mod(func(b []byte) { b[1] = byte(KindScene) })},
		{"finger 0", mod(func(b []byte) { clear(b[66:70]) })},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"empty scene", mod(func(b []byte) { b[len(b)-4] = 0 })},
	} {
		t.Run(cs.name, func(t *testing.T) {
			got, err := ParseStatement(cs.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, Statement{}, got)
		})
	}
	for _, s := range []Statement{{AppID: "a", Scene: "s"}, {FingerID: 1, Scene: "s"}, {FingerID: 1, AppID: "a"}} {
		_, err := s.Marshal()
		require.ErrorIs(t, err, ErrMalformed)
	}
}

func TestSignedRejects(t *testing.T) {
	c := newChain(t)
	good := c.stSigned
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, cs := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"body len 0", mod(func(b []byte) { clear(b[:4]) })},
		{"body len huge", mod(func(b []byte) { b[0] = 0xFF })},
		{"sig len short", mod(func(b []byte) { binary.BigEndian.PutUint16(b[len(b)-len(good)+4+0x6b:], 7) })},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
	} {
		t.Run(cs.name, func(t *testing.T) {
			got, err := ParseSigned(cs.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, Signed{}, got)
		})
	}
	for _, s := range []Signed{{Signature: make([]byte, 70)}, {Body: []byte{1}, Signature: make([]byte, 7)}, {Body: []byte{1}, Signature: make([]byte, 73)}, {Body: make([]byte, MaxBodySize+1), Signature: make([]byte, 70)}} {
		_, err := s.Marshal()
		require.ErrorIs(t, err, ErrMalformed)
	}
}

func TestFingerBinding(t *testing.T) {
	base := FingerBinding(0, 7, []uint32{1, 2})
	assert.Equal(t, base, FingerBinding(0, 7, []uint32{1, 2}))
	for _, other := range [][BindingSize]byte{
		FingerBinding(1, 7, []uint32{1, 2}),
		FingerBinding(0, 8, []uint32{1, 2}),
		FingerBinding(0, 7, []uint32{1}),
		FingerBinding(0, 7, []uint32{1, 2, 3}),
		FingerBinding(0, 7, nil),
	} {
		assert.NotEqual(t, base, other)
	}
}
