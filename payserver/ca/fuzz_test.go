package ca

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func goldenCSR(f *testing.F) []byte {
	b, err := os.ReadFile(goldenFile)
	require.NoError(f, err)
	var g golden
	require.NoError(f, json.Unmarshal(b, &g))
	return []byte(g.CSRPEM)
}

// FuzzDecodeCSR: DecodeCSR never panics, returns a request or an error
// (never both, never neither), refuses anything over MaxCSRSize, and a
// request it returns re-encodes to PEM that decodes to the same bytes.
func FuzzDecodeCSR(f *testing.F) {
	pemCSR := goldenCSR(f)
	der, err := DecodeCSR(pemCSR)
	require.NoError(f, err)
	k := newKey(f)
	dev, err := NewCSR(rand.Reader, k, CSRTemplate{CommonName: "device-0001"})
	require.NoError(f, err)
	f.Add(pemCSR)
	f.Add(der.Raw)
	f.Add(dev)
	f.Add(append([]byte("  \n"), pemCSR...))
	f.Add([]byte("-----BEGIN NEW CERTIFICATE REQUEST-----\n-----END NEW CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := DecodeCSR(b)
		if err != nil {
			require.Nil(t, csr)
			require.True(t, IsRefusal(err))
			return
		}
		require.NotNil(t, csr)
		require.LessOrEqual(t, len(b), MaxCSRSize)
		again, err := DecodeCSR(EncodeCSR(csr.Raw))
		require.NoError(t, err)
		require.Equal(t, csr.Raw, again.Raw)
	})
}

// FuzzIssueCSR: whatever the request bytes, Issue returns certificates or
// a refusal (never a panic, never both), and what it issues is SM2 and
// chains to the root.
func FuzzIssueCSR(f *testing.F) {
	f.Add(goldenCSR(f), true)
	_, dev := csrFor(f, CSRTemplate{CommonName: "device-0001"})
	f.Add(dev, false)
	f.Add([]byte("garbage"), false)
	c := newTestCA(f)
	f.Fuzz(func(t *testing.T, b []byte, server bool) {
		p := ProfileDevice
		if server {
			p = ProfileServer
		}
		is, err := c.Issue(t.Context(), Request{CSR: b, Profile: p})
		if err != nil {
			require.Nil(t, is)
			require.True(t, IsRefusal(err), "%v", err)
			return
		}
		require.Len(t, is.Certs, 1)
		require.True(t, isSM2(is.Certs[0].PublicKey))
		require.NoError(t, is.Certs[0].CheckSignatureFrom(c.Root()))
	})
}

// FuzzParseSerial: ParseSerial never panics and what it accepts prints
// back to a form it reads as the same number.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"21dce8df7645ee7daf5bf962863178d1", "0x0A:bC", "", "00", "1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSerial(s)
		if err != nil {
			require.Nil(t, n)
			require.ErrorIs(t, err, ErrSerial)
			return
		}
		require.Positive(t, n.Sign())
		back, err := ParseSerial(FormatSerial(n))
		require.NoError(t, err)
		require.Equal(t, 0, back.Cmp(n))
	})
}

// FuzzParseKey: ParseKey never panics, and returns a key or ErrKeyFile.
func FuzzParseKey(f *testing.F) {
	b, err := MarshalKey(newKey(f))
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			require.Nil(t, k)
			require.ErrorIs(t, err, ErrKeyFile)
			return
		}
		require.NotNil(t, k)
	})
}
