package chantest

import (
	"testing"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
)

func TestServer(t *testing.T) {
	s := NewServer(t)
	for _, c := range []*smx509.Certificate{s.Creds.SignCert, s.Creds.EncCert} {
		assert.Equal(t, ServerName, c.Subject.CommonName)
		_, err := c.Verify(smx509.VerifyOptions{Roots: s.CA.Roots, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
		require.NoError(t, err, "issued by the server's CA")
		_, err = c.Verify(smx509.VerifyOptions{Roots: NewCA(t).Roots, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
		require.Error(t, err, "not by another CA")
	}
	assert.Equal(t, SignUsage, s.Creds.SignCert.KeyUsage)
	assert.Equal(t, EncUsage, s.Creds.EncCert.KeyUsage)

	a, err := payproto.ParseTrustAnchors(s.Anchors(t))
	require.NoError(t, err)
	assert.Equal(t, ServerName, a.ServerName)
	assert.Equal(t, [][]byte{s.CA.Cert.Raw}, a.Roots)
	require.NotNil(t, s.Channel(t))
}
