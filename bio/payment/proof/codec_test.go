package proof

import (
	"encoding/binary"
	"slices"
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

// malformed is an encoding its parser must refuse.
type malformed struct {
	name string
	b    []byte
}

// edited is a copy of good with f applied to it.
func edited(good []byte, f func(b []byte)) []byte {
	b := slices.Clone(good)
	f(b)
	return b
}

// rejects holds parse to refusing every case, and nil, good truncated by a
// byte and good with a trailing byte, with ErrMalformed and the zero T.
func rejects[T any](t *testing.T, parse func([]byte) (T, error), good []byte, cases ...malformed) {
	t.Helper()
	cases = append(cases,
		malformed{"nil", nil},
		malformed{"truncated", good[:len(good)-1]},
		malformed{"trailing", append(slices.Clone(good), 0)},
	)
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			got, err := parse(cs.b)
			require.ErrorIs(t, err, ErrMalformed)
			var zero T
			assert.Equal(t, zero, got)
		})
	}
}

// marshalRejects holds Marshal to refusing every value with ErrMalformed
// and no bytes.
func marshalRejects[T interface{ Marshal() ([]byte, error) }](t *testing.T, bad ...T) {
	t.Helper()
	for i, v := range bad {
		b, err := v.Marshal()
		require.ErrorIs(t, err, ErrMalformed, "case %d", i)
		assert.Nil(t, b, "case %d", i)
	}
}

func TestCertRejects(t *testing.T) {
	c := newChain(t)
	good := marshal(t, c.scene)
	rejects(t, ParseCert, good,
		malformed{"version", edited(good, func(b []byte) { b[0] = 2 })},
		malformed{"kind 0", edited(good, func(b []byte) { b[1] = 0 })},
		malformed{"kind payment", edited(good, func(b []byte) { b[1] = byte(KindPayment) })},
		malformed{"compressed key", edited(good, func(b []byte) { b[70] = 0x02 })},
		malformed{"app len over max", edited(good, func(b []byte) { binary.BigEndian.PutUint16(b[135:], MaxAppIDLen+1) })},
		malformed{"app len past end", edited(good, func(b []byte) { binary.BigEndian.PutUint16(b[135:], 0xFFFF) })},
		malformed{"scene as app cert", edited(good, func(b []byte) { b[1] = byte(KindApp) })},
		malformed{"too long", make([]byte, MaxCertSize+1)},
	)
	marshalRejects(t,
		Cert{Kind: KindDevice, PublicKey: c.dev.PublicKey, AppID: "x"},
		Cert{Kind: KindApp, PublicKey: c.dev.PublicKey},
		Cert{Kind: KindApp, PublicKey: c.dev.PublicKey, AppID: "a", Scene: "s"},
		Cert{Kind: KindApp, PublicKey: c.dev.PublicKey, AppID: "a", GroupID: 1},
		Cert{Kind: KindScene, PublicKey: c.dev.PublicKey, AppID: "a"},
		Cert{Kind: KindScene, PublicKey: c.dev.PublicKey, AppID: "a", Scene: strings.Repeat("s", MaxSceneLen+1)},
		Cert{Kind: KindScene, AppID: "a", Scene: "s"},
		Cert{Kind: KindPayment, PublicKey: c.dev.PublicKey, AppID: "a", Scene: "s"},
	)
}

func TestStatementRejects(t *testing.T) {
	c := newChain(t)
	good := marshal(t, c.st)
	rejects(t, ParseStatement, good,
		malformed{"kind scene", edited(good, func(b []byte) { b[1] = byte(KindScene) })},
		malformed{"finger 0", edited(good, func(b []byte) { clear(b[66:70]) })},
		malformed{"empty scene", edited(good, func(b []byte) { b[len(b)-4] = 0 })},
	)
	marshalRejects(t, Statement{AppID: "a", Scene: "s"}, Statement{FingerID: 1, Scene: "s"}, Statement{FingerID: 1, AppID: "a"})
}

func TestSignedRejects(t *testing.T) {
	c := newChain(t)
	good := c.stSigned
	rejects(t, ParseSigned, good,
		malformed{"body len 0", edited(good, func(b []byte) { clear(b[:4]) })},
		malformed{"body len huge", edited(good, func(b []byte) { b[0] = 0xFF })},
		malformed{"sig len short", edited(good, func(b []byte) { binary.BigEndian.PutUint16(b[len(b)-len(good)+4+0x6b:], 7) })},
	)
	marshalRejects(t,
		Signed{Signature: make([]byte, 70)},
		Signed{Body: []byte{1}, Signature: make([]byte, 7)},
		Signed{Body: []byte{1}, Signature: make([]byte, 73)},
		Signed{Body: make([]byte, MaxBodySize+1), Signature: make([]byte, 70)},
	)
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

// TestStatementVersion2Flags: a statement with flags is version 2 (the
// version-1 layout, version byte 2, one flags byte after the scene); one
// without flags keeps its version-1 bytes; non-canonical flags are
// refused both ways.
func TestStatementVersion2Flags(t *testing.T) {
	c := newChain(t)
	v1 := marshal(t, c.st)
	st := c.st
	st.Flags = FlagPassword
	v2 := marshal(t, st)
	assert.Equal(t, []byte{StatementVersion2, byte(KindPayment)}, v2[:2])
	assert.Equal(t, v1[2:], v2[2:len(v2)-1], "version 2 is version 1 plus the flags byte")
	assert.Equal(t, byte(FlagPassword), v2[len(v2)-1])
	got, err := ParseStatement(v2)
	require.NoError(t, err)
	assert.Equal(t, st, got)
	assert.True(t, got.Flags.Has(FlagPassword))
	got, err = ParseStatement(v1)
	require.NoError(t, err)
	assert.Zero(t, got.Flags)

	rejects(t, ParseStatement, v2,
		malformed{"flags 0", edited(v2, func(b []byte) { b[len(b)-1] = 0 })},
		malformed{"unknown flag", edited(v2, func(b []byte) { b[len(b)-1] = 0x80 })},
		malformed{"version 2 without flags", v2[:len(v2)-1]},
		malformed{"version 1 with a flags byte", edited(v2, func(b []byte) { b[0] = Version })},
	)
	bad := c.st
	bad.Flags = 0x40
	marshalRejects(t, bad)
}

// TestStatementVersion2Verifies: a version-2 statement signed by the
// scene key verifies, and its flags come back from VerifyStatement.
func TestStatementVersion2Verifies(t *testing.T) {
	c := newChain(t)
	st := c.st
	st.Flags = FlagPassword
	signed := sign(t, c.sceneKey, marshal(t, st))
	got, err := VerifyStatement(signed, c.scene)
	require.NoError(t, err)
	assert.Equal(t, FlagPassword, got.Flags)
}
