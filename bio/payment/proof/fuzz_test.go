package proof

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseCert: never panics, nothing on error, canonical on success.
func FuzzParseCert(f *testing.F) {
	c := newChain(f)
	for _, cert := range []Cert{c.dev, c.app, c.scene} {
		b := marshal(f, cert)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseCert(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, Cert{}, got)
			return
		}
		out, err := got.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzParseStatement: as FuzzParseCert, for statements.
func FuzzParseStatement(f *testing.F) {
	c := newChain(f)
	b := marshal(f, c.st)
	f.Add(b)
	v2 := c.st
	v2.Flags = FlagPassword
	f.Add(marshal(f, v2))
	f.Add(b[:len(b)-1])
	f.Add(append(append([]byte(nil), b...), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseStatement(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, Statement{}, got)
			return
		}
		out, err := got.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzParseSigned: as FuzzParseCert, for the signed framing.
func FuzzParseSigned(f *testing.F) {
	c := newChain(f)
	for _, b := range [][]byte{c.devSigned, c.appSig, c.sceneSig, c.stSigned} {
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseSigned(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, Signed{}, got)
			return
		}
		out, err := got.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzVerifyPayment: arbitrary bytes never verify and never panic.
func FuzzVerifyPayment(f *testing.F) {
	c := newChain(f)
	f.Add(c.stSigned)
	f.Add(c.sceneSig)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := VerifyPayment(b, c.scene, c.st.Challenge, testPayload)
		if err == nil {
			require.Equal(t, c.st, st, "only a genuine statement verifies")
			return
		}
		require.Equal(t, Statement{}, st)
	})
}
