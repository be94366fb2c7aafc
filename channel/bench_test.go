package channel

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm4"
	"github.com/stretchr/testify/require"

	"crypto/cipher"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// BenchmarkHandshake: one full handshake, both sides in one process,
// certificate checks included; tls13 is Go's crypto/tls TLS 1.3 with
// mutual ECDSA P-256 certificates over an in-memory pipe, for scale
// (issue 10 goal: gm-fs ≤ 1.5× tls13).
func BenchmarkHandshake(b *testing.B) {
	w := getWorld(b)
	for _, p := range []chanwire.Profile{chanwire.ProfileOpteeRSA, chanwire.ProfileGM, chanwire.ProfileGMFS} {
		b.Run(p.String(), func(b *testing.B) {
			ccfg, scfg := w.clientConfig(p), w.serverConfig(p)
			b.ReportAllocs()
			for b.Loop() {
				c, _ := NewClient(ccfg)
				s, _ := NewServer(scfg)
				m1, err := c.Open()
				if err != nil {
					b.Fatal(err)
				}
				m2, _, err := s.Handle(m1)
				if err != nil {
					b.Fatal(err)
				}
				m3, _, err := c.Continue(m2)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.Handle(m3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("tls13", func(b *testing.B) {
		ccfg, scfg := tls13Configs(b)
		b.ReportAllocs()
		for b.Loop() {
			cc, sc := net.Pipe()
			client, server := tls.Client(cc, ccfg), tls.Server(sc, scfg)
			done := make(chan error, 1)
			go func() { done <- server.Handshake() }()
			if err := client.Handshake(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			cc.Close()
			sc.Close()
		}
	})
}

func tls13Configs(b *testing.B) (*tls.Config, *tls.Config) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	require.NoError(b, err)
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(cn string, eku x509.ExtKeyUsage) tls.Certificate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(b, err)
		t := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		require.NoError(b, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	scfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{leaf("pay.fpemu.test", x509.ExtKeyUsageServerAuth)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, SessionTicketsDisabled: true,
		CurvePreferences: []tls.CurveID{tls.CurveP256}}
	ccfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{leaf("device", x509.ExtKeyUsageClientAuth)},
		RootCAs: pool, ServerName: "pay.fpemu.test", CurvePreferences: []tls.CurveID{tls.CurveP256}}
	return ccfg, scfg
}

var recordSizes = []int{64, 4096}

// BenchmarkRecord: the record layer alone — seal, marshal, parse and open
// one record of the size's plaintext — against bare SM4-GCM seal+open of
// the same size (issue 10 goal: ≤ 1.3×). The per-message SM2 signature
// of the application message is BenchmarkAppMessage.
func BenchmarkRecord(b *testing.B) {
	w := getWorld(b)
	for _, p := range sm2Profiles {
		for _, n := range recordSizes {
			b.Run(p.String()+"/"+itoa(n), func(b *testing.B) {
				c, s, _ := handshake(b, w.clientConfig(p), w.serverConfig(p))
				pt := make([]byte, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				var seq uint64
				for b.Loop() {
					raw, err := c.sess.send.seal(seq, pt)
					if err != nil {
						b.Fatal(err)
					}
					got, err := chanwire.ParseRecordShared(raw)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.sess.recv.open(got); err != nil {
						b.Fatal(err)
					}
					seq++
				}
			})
		}
	}
	for _, n := range recordSizes {
		b.Run("sm4gcm/"+itoa(n), func(b *testing.B) {
			blk, _ := sm4.NewCipher(make([]byte, 16))
			a, _ := cipher.NewGCM(blk)
			nonce := make([]byte, 12)
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				ct := a.Seal(nil, nonce, pt, nonce[:8])
				if _, err := a.Open(nil, nonce, ct, nonce[:8]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppMessage: Seal + OpenRecord of one application message, SM2
// signature and verification included (seed 001's per-message signature).
func BenchmarkAppMessage(b *testing.B) {
	w := getWorld(b)
	for _, p := range []chanwire.Profile{chanwire.ProfileGM, chanwire.ProfileGMFS, chanwire.ProfileOpteeRSA} {
		for _, n := range recordSizes {
			b.Run(p.String()+"/"+itoa(n), func(b *testing.B) {
				c, s, _ := handshake(b, w.clientConfig(p), w.serverConfig(p))
				m := testApp
				m.Custom = make([]byte, n)
				b.ReportAllocs()
				for b.Loop() {
					rec, err := c.Seal(m)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.OpenRecord(rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
