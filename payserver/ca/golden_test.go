package ca

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden_v1.json (new keys and request)")

const goldenFile = "testdata/golden_v1.json"

// golden is a fixed root key and request, and the fields of the
// certificate the CA issues from them at a fixed time with a fixed
// randomness stream.
type golden struct {
	Comment    string    `json:"comment"`
	Now        time.Time `json:"now"`
	RandSeed   string    `json:"rand_seed"`
	RootKeyPEM string    `json:"root_key_pem"`
	CSRPEM     string    `json:"csr_pem"`
	Profile    Profile   `json:"profile"`
	Usage      Usage     `json:"usage"`
	Want       struct {
		Serial       string    `json:"serial"`
		Subject      string    `json:"subject"`
		Issuer       string    `json:"issuer"`
		NotBefore    time.Time `json:"not_before"`
		NotAfter     time.Time `json:"not_after"`
		KeyUsage     int       `json:"key_usage"`
		ExtKeyUsage  []int     `json:"ext_key_usage"`
		SubjectKeyID string    `json:"subject_key_id"`
		AuthKeyID    string    `json:"authority_key_id"`
		SPKI         string    `json:"subject_public_key_info"`
		SigAlg       string    `json:"signature_algorithm"`
		DNSNames     []string  `json:"dns_names"`
	} `json:"want"`
}

// seqRand is a deterministic stream: SM3(seed ‖ counter) blocks.
type seqRand struct {
	seed []byte
	n    uint64
	buf  []byte
}

func (r *seqRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			var ctr [8]byte
			binary.BigEndian.PutUint64(ctr[:], r.n)
			r.n++
			h := sm3.Sum(append(append([]byte(nil), r.seed...), ctr[:]...))
			r.buf = h[:]
		}
		p[i], r.buf = r.buf[0], r.buf[1:]
	}
	return len(p), nil
}

// TestGolden: the CA issues, from testdata's fixed request and root key,
// a certificate whose every field matches the recorded one (serial from
// the fixed randomness, subject, validity, usages, key identifiers, key).
func TestGolden(t *testing.T) {
	var g golden
	if *update {
		g.Comment = "fpemu ca golden vector v1: test keys only. Generated with go test ./payserver/ca -run TestGolden -update"
		g.Now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		g.RandSeed = "fpemu-ca-golden-v1"
		g.Profile, g.Usage = ProfileServer, UsageSign
		rk, err := MarshalKey(newKey(t))
		require.NoError(t, err)
		g.RootKeyPEM = string(rk)
		_, req := csrFor(t, CSRTemplate{CommonName: "pay.fpemu.test", Organization: "fpemu", DNSNames: []string{"localhost"}})
		g.CSRPEM = string(EncodeCSR(req))
	} else {
		b, err := os.ReadFile(goldenFile)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &g))
	}
	key, err := ParseKey([]byte(g.RootKeyPEM))
	require.NoError(t, err)
	opts := Options{Now: func() time.Time { return g.Now }, Rand: &seqRand{seed: []byte(g.RandSeed)}}
	c, err := initWithKey(filepath.Join(t.TempDir(), "ca"), key, InitOptions{Options: opts})
	require.NoError(t, err)
	defer c.Close()
	is, err := c.Issue(context.Background(), Request{CSR: []byte(g.CSRPEM), Profile: g.Profile, Usage: g.Usage})
	require.NoError(t, err)
	cert := is.Certs[0]
	require.NoError(t, cert.CheckSignatureFrom(c.Root()))

	got := g
	got.Want.Serial = FormatSerial(cert.SerialNumber)
	got.Want.Subject = cert.Subject.String()
	got.Want.Issuer = cert.Issuer.String()
	got.Want.NotBefore, got.Want.NotAfter = cert.NotBefore, cert.NotAfter
	got.Want.KeyUsage = int(cert.KeyUsage)
	got.Want.ExtKeyUsage = nil
	for _, u := range cert.ExtKeyUsage {
		got.Want.ExtKeyUsage = append(got.Want.ExtKeyUsage, int(u))
	}
	got.Want.SubjectKeyID = hex.EncodeToString(cert.SubjectKeyId)
	got.Want.AuthKeyID = hex.EncodeToString(cert.AuthorityKeyId)
	got.Want.SPKI = hex.EncodeToString(cert.RawSubjectPublicKeyInfo)
	got.Want.SigAlg = cert.SignatureAlgorithm.String()
	got.Want.DNSNames = cert.DNSNames
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(goldenFile, append(b, '\n'), 0o644))
		return
	}
	assert.Equal(t, g.Want, got.Want)
	// values a reader can check by hand
	assert.Equal(t, "CN=pay.fpemu.test,O=fpemu", g.Want.Subject)
	assert.Equal(t, "CN="+DefaultRootName, g.Want.Issuer)
	assert.Equal(t, g.Now.Add(DefaultServerValidity), g.Want.NotAfter)
	assert.Equal(t, []string{"pay.fpemu.test", "localhost"}, g.Want.DNSNames)
	assert.Equal(t, "SM2-SM3", g.Want.SigAlg)
}
