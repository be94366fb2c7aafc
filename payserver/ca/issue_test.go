package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawCSR signs an arbitrary request template with a fresh SM2 key.
func rawCSR(t *testing.T, tmpl *smx509.CertificateRequest) []byte {
	t.Helper()
	der, err := smx509.CreateCertificateRequest(rand.Reader, tmpl, newKey(t))
	require.NoError(t, err)
	return der
}

func cnReq(cn string) *smx509.CertificateRequest {
	return &smx509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
}

// TestIssueRefusals: every refusal of Issue, each with its sentinel, and
// nothing written to the register for any of them.
func TestIssueRefusals(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t)

	_, good := csrFor(t, CSRTemplate{CommonName: "device-0001"})
	_, goodEnc := csrFor(t, CSRTemplate{CommonName: "device-0001"})
	badSig := append([]byte(nil), good...)
	badSig[len(badSig)-3] ^= 0x01

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	nistCSR, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-0001"}}, p256)
	require.NoError(t, err)

	bcValue, err := asn1.Marshal(struct{ IsCA bool }{true})
	require.NoError(t, err)
	withBC := cnReq("device-0002")
	withBC.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bcValue}}
	withCrit := cnReq("device-0003")
	withCrit.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}}
	withL := cnReq("device-0004")
	withL.Subject.Locality = []string{"Shenzhen"}
	twoCNSubject, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidCN, Value: "device-0005"}}, {{Type: oidCN, Value: "device-0006"}}})
	require.NoError(t, err)
	twoCN := &smx509.CertificateRequest{RawSubject: twoCNSubject}
	badC := cnReq("device-0007")
	badC.Subject.Country = []string{"cn"}
	email := cnReq("pay.fpemu.test")
	email.EmailAddresses = []string{"ops@fpemu.test"}
	uri := cnReq("pay.fpemu.test")
	uri.URIs = []*url.URL{{Scheme: "https", Host: "x"}}
	devDNS := cnReq("device-0008")
	devDNS.DNSNames = []string{"device.fpemu.test"}
	devIP := cnReq("device-0009")
	devIP.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srvWild := cnReq("pay.fpemu.test")
	srvWild.DNSNames = []string{"*.fpemu.test"}
	srvIP := cnReq("pay.fpemu.test")
	srvIP.IPAddresses = []net.IP{net.IPv4zero}
	srvMany := cnReq("pay.fpemu.test")
	for i := 0; i <= maxNames; i++ {
		srvMany.IPAddresses = append(srvMany.IPAddresses, net.IPv4(10, 0, 0, byte(i)))
	}
	_, otherSubj := csrFor(t, CSRTemplate{CommonName: "device-0010"})
	sameKey := newKey(t)
	sk1, err := NewCSR(rand.Reader, sameKey, CSRTemplate{CommonName: "device-0011"})
	require.NoError(t, err)
	sk2, err := NewCSR(rand.Reader, sameKey, CSRTemplate{CommonName: "device-0011", Organization: ""})
	require.NoError(t, err)

	dev := func(csr []byte) Request { return Request{CSR: csr, Profile: ProfileDevice} }
	srv := func(csr []byte) Request { return Request{CSR: csr, Profile: ProfileServer} }
	for _, tc := range []struct {
		name string
		req  Request
		want error
	}{
		{"unknown profile", Request{CSR: good, Profile: "merchant"}, ErrProfile},
		{"unknown usage", Request{CSR: good, Profile: ProfileDevice, Usage: "auth"}, ErrProfile},
		{"dual without the encryption request", Request{CSR: good, Profile: ProfileDevice, Usage: UsageDual}, ErrProfile},
		{"second request without dual", Request{CSR: good, EncCSR: goodEnc, Profile: ProfileDevice}, ErrProfile},
		{"empty", dev(nil), ErrMalformed},
		{"garbage", dev([]byte("not a request")), ErrMalformed},
		{"PEM of another type", dev([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), ErrMalformed},
		{"data after the PEM block", dev(append(EncodeCSR(good), "junk"...)), ErrMalformed},
		{"data after the DER", dev(append(append([]byte(nil), good...), 0)), ErrMalformed},
		{"too large", dev(make([]byte, MaxCSRSize+1)), ErrTooLarge},
		{"bad signature", dev(badSig), ErrBadSignature},
		{"P-256 key", dev(nistCSR), ErrNotSM2},
		{"basicConstraints requested", dev(rawCSR(t, withBC)), ErrExtension},
		{"unknown critical extension", dev(rawCSR(t, withCrit)), ErrExtension},
		{"no commonName", dev(rawCSR(t, &smx509.CertificateRequest{Subject: pkix.Name{Organization: []string{"x"}}})), ErrSubject},
		{"locality attribute", dev(rawCSR(t, withL)), ErrSubject},
		{"two commonNames", dev(rawCSR(t, twoCN)), ErrSubject},
		{"lowercase country", dev(rawCSR(t, badC)), ErrSubject},
		{"the root's name", dev(rawCSR(t, cnReq(DefaultRootName))), ErrSubject},
		{"device id with a dot", dev(rawCSR(t, cnReq("pay.fpemu.test"))), ErrSubject},
		{"device id with a space", dev(rawCSR(t, cnReq("device 12"))), ErrSubject},
		{"device with a DNS name", dev(rawCSR(t, devDNS)), ErrSubject},
		{"device with an IP name", dev(rawCSR(t, devIP)), ErrSubject},
		{"server name upper case", srv(rawCSR(t, cnReq("Pay.fpemu.test"))), ErrSubject},
		{"server name with underscore", srv(rawCSR(t, cnReq("pay_1.fpemu.test"))), ErrSubject},
		{"server wildcard", srv(rawCSR(t, srvWild)), ErrSubject},
		{"server unspecified IP", srv(rawCSR(t, srvIP)), ErrSubject},
		{"server too many names", srv(rawCSR(t, srvMany)), ErrSubject},
		{"server e-mail name", srv(rawCSR(t, email)), ErrSubject},
		{"server URI name", srv(rawCSR(t, uri)), ErrSubject},
		{"dual with two subjects", Request{CSR: good, EncCSR: otherSubj, Profile: ProfileDevice, Usage: UsageDual}, ErrSubject},
		{"dual with one key", Request{CSR: sk1, EncCSR: sk2, Profile: ProfileDevice, Usage: UsageDual}, ErrDuplicate},
		{"dual with one request twice", Request{CSR: good, EncCSR: good, Profile: ProfileDevice, Usage: UsageDual}, ErrDuplicate},
		{"validity too short", Request{CSR: good, Profile: ProfileDevice, Validity: time.Minute}, ErrValidity},
		{"validity too long", Request{CSR: good, Profile: ProfileDevice, Validity: MaxValidity + time.Hour}, ErrValidity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, err := c.Issue(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, is)
			assert.True(t, IsRefusal(err), "%v", err)
			for _, other := range refusals {
				if other != tc.want {
					assert.False(t, errors.Is(err, other), "also %v", other)
				}
			}
		})
	}
	n, err := c.Count(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a refused request wrote to the register")
}

// TestIssueDuplicateAndFull: a request seen before, a new request for a
// key seen before (also once revoked), and a full register are refused.
func TestIssueDuplicateAndFull(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := Init(dir, InitOptions{Options: Options{Now: testClock, MaxRows: 3}})
	require.NoError(t, err)
	defer c.Close()
	k, req := csrFor(t, CSRTemplate{CommonName: "device-0001"})
	is, err := c.Issue(ctx, Request{CSR: req, Profile: ProfileDevice})
	require.NoError(t, err)
	_, err = c.Issue(ctx, Request{CSR: req, Profile: ProfileDevice})
	require.ErrorIs(t, err, ErrDuplicate)
	again, err := NewCSR(rand.Reader, k, CSRTemplate{CommonName: "device-0002"})
	require.NoError(t, err)
	_, err = c.Revoke(ctx, is.Certs[0].SerialNumber, ReasonSuperseded)
	require.NoError(t, err)
	_, err = c.Issue(ctx, Request{CSR: again, Profile: ProfileDevice})
	require.ErrorIs(t, err, ErrDuplicate, "a key once certified is never certified again")

	_, _, _ = dualFor(t, c, ProfileDevice, "device-0003") // rows 2 and 3
	_, req = csrFor(t, CSRTemplate{CommonName: "device-0004"})
	_, err = c.Issue(ctx, Request{CSR: req, Profile: ProfileDevice})
	require.ErrorIs(t, err, ErrRegisterFull)
	n, err := c.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

// TestIssueValidityPastRoot: a certificate never outlives its root.
func TestIssueValidityPastRoot(t *testing.T) {
	c, err := Init(filepath.Join(t.TempDir(), "ca"), InitOptions{Options: Options{Now: testClock}, Validity: 400 * 24 * time.Hour})
	require.NoError(t, err)
	defer c.Close()
	_, req := csrFor(t, CSRTemplate{CommonName: "device-0001"})
	_, err = c.Issue(context.Background(), Request{CSR: req, Profile: ProfileDevice}) // default 2 years
	require.ErrorIs(t, err, ErrValidity)
	is, err := c.Issue(context.Background(), Request{CSR: req, Profile: ProfileDevice, Validity: 30 * 24 * time.Hour})
	require.NoError(t, err)
	assert.Equal(t, testNow.Add(30*24*time.Hour), is.Certs[0].NotAfter)
}

// TestIssueFields: what the CA puts in each kind of certificate.
func TestIssueFields(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t)
	sk, ek, is := dualFor(t, c, ProfileDevice, "device-0001")
	sign, enc := is.Certs[0], is.Certs[1]
	for _, cert := range is.Certs {
		assert.Equal(t, "CN=device-0001", cert.Subject.String())
		assert.Equal(t, smx509.SM2WithSM3, cert.SignatureAlgorithm)
		assert.False(t, cert.IsCA)
		assert.True(t, cert.BasicConstraintsValid)
		assert.Equal(t, []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
		assert.Equal(t, testNow.Add(-backdate), cert.NotBefore)
		assert.Equal(t, testNow.Add(DefaultDeviceValidity), cert.NotAfter)
		assert.Equal(t, c.Root().SubjectKeyId, cert.AuthorityKeyId)
		assert.Len(t, cert.SubjectKeyId, 20)
		assert.GreaterOrEqual(t, cert.SerialNumber.BitLen(), 65)
		assert.Empty(t, cert.DNSNames)
		require.NoError(t, cert.CheckSignatureFrom(c.Root()))
	}
	assert.Equal(t, smx509.KeyUsageDigitalSignature|smx509.KeyUsageContentCommitment, sign.KeyUsage)
	assert.Equal(t, smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment|smx509.KeyUsageKeyAgreement, enc.KeyUsage)
	assert.True(t, sk.PublicKey.Equal(sign.PublicKey))
	assert.True(t, ek.PublicKey.Equal(enc.PublicKey))
	assert.NotEqual(t, sign.SerialNumber, enc.SerialNumber)

	_, req := csrFor(t, CSRTemplate{CommonName: "pay.fpemu.test", DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	srv, err := c.Issue(ctx, Request{CSR: EncodeCSR(req), Profile: ProfileServer, Usage: UsageEnc})
	require.NoError(t, err)
	cert := srv.Certs[0]
	assert.Equal(t, []string{"pay.fpemu.test", "localhost"}, cert.DNSNames)
	assert.Equal(t, "127.0.0.1", cert.IPAddresses[0].String())
	assert.Equal(t, []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth}, cert.ExtKeyUsage)
	assert.Equal(t, encKeyUsage, cert.KeyUsage)
	assert.Equal(t, testNow.Add(DefaultServerValidity), cert.NotAfter)

	root := c.Root()
	assert.True(t, root.IsCA)
	assert.True(t, root.MaxPathLenZero)
	assert.NotZero(t, root.KeyUsage&smx509.KeyUsageCertSign)
	assert.NotZero(t, root.KeyUsage&smx509.KeyUsageCRLSign)

	recs, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, FormatSerial(enc.SerialNumber), recs[0].Pair)
	assert.Equal(t, FormatSerial(sign.SerialNumber), recs[1].Pair)
	assert.Equal(t, UsageSign, recs[0].Usage)
	assert.Equal(t, UsageEnc, recs[1].Usage)
	assert.Equal(t, StatusValid, recs[2].Status)
	assert.Equal(t, ProfileServer, recs[2].Profile)
	assert.Equal(t, cert.Raw, recs[2].DER)
}

// TestPKCS7: the response parses back (gmsm pkcs7) to the leaves then the root.
func TestPKCS7(t *testing.T) {
	c := newTestCA(t)
	_, _, is := dualFor(t, c, ProfileServer, "pay.fpemu.test")
	der, err := is.PKCS7()
	require.NoError(t, err)
	certs, err := ParsePKCS7(der)
	require.NoError(t, err)
	require.Len(t, certs, 3)
	assert.Equal(t, is.Certs[0].Raw, certs[0].Raw)
	assert.Equal(t, is.Certs[1].Raw, certs[1].Raw)
	assert.Equal(t, c.Root().Raw, certs[2].Raw)
	pemCerts, err := ParsePKCS7(EncodePKCS7(der))
	require.NoError(t, err)
	assert.Len(t, pemCerts, 3)
	_, err = ParsePKCS7([]byte("junk"))
	require.ErrorIs(t, err, ErrMalformed)
}
