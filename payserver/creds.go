package payserver

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/payserver/ca"
)

// ReadRoots reads the CA root(s) device channel certificates must chain
// to: PEM CERTIFICATE blocks (a CA directory's root.pem).
func ReadRoots(path string) (*smx509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := smx509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := smx509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("payserver: %s: %w", path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("payserver: %s: no PEM certificate", path)
	}
	return pool, nil
}

// LoadCredentials reads the server's dual certificates (certPath: PEM
// CERTIFICATE blocks or a PKCS#7 from `fpemu ca issue --usage dual`, the
// signing certificate first) and their SM2 keys (PKCS#8 PEM files of
// mode 0600, ca.ReadKeyFile).
func LoadCredentials(certPath, signKeyPath, encKeyPath string) (*channel.SM2Credentials, error) {
	b, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	var certs []*smx509.Certificate
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == "PKCS7" {
		if certs, err = ca.ParsePKCS7(b); err != nil {
			return nil, err
		}
	} else {
		for {
			var blk *pem.Block
			if blk, b = pem.Decode(b); blk == nil {
				break
			}
			c, err := smx509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("payserver: %s: %w", certPath, err)
			}
			certs = append(certs, c)
		}
	}
	if len(certs) < 2 {
		return nil, fmt.Errorf("payserver: %s: want the signing and the encryption certificate", certPath)
	}
	sk, err := ca.ReadKeyFile(signKeyPath)
	if err != nil {
		return nil, err
	}
	ek, err := ca.ReadKeyFile(encKeyPath)
	if err != nil {
		return nil, err
	}
	return credentials(certs[0], certs[1], sk, ek)
}

func credentials(sc, ec *smx509.Certificate, sk, ek *sm2.PrivateKey) (*channel.SM2Credentials, error) {
	if !sk.PublicKey.Equal(sc.PublicKey) || !ek.PublicKey.Equal(ec.PublicKey) {
		return nil, fmt.Errorf("payserver: a key does not match its certificate")
	}
	x, err := channel.NewKeyExchanger(ek)
	if err != nil {
		return nil, err
	}
	return &channel.SM2Credentials{SignCert: sc, Signer: sk, EncCert: ec, Exchange: x, Decrypter: ek}, nil
}

// IssueCredentials has the CA in caDir issue the server a fresh dual
// certificate pair for name (ca.ProfileServer) with keys that live only in
// this process, and returns them with the CA's root pool.
func IssueCredentials(ctx context.Context, caDir, name string) (*channel.SM2Credentials, *smx509.CertPool, error) {
	c, err := ca.Open(caDir, ca.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	sk, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ek, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	scsr, err := ca.NewCSR(rand.Reader, sk, ca.CSRTemplate{CommonName: name})
	if err != nil {
		return nil, nil, err
	}
	ecsr, err := ca.NewCSR(rand.Reader, ek, ca.CSRTemplate{CommonName: name})
	if err != nil {
		return nil, nil, err
	}
	iss, err := c.Issue(ctx, ca.Request{CSR: scsr, EncCSR: ecsr, Profile: ca.ProfileServer, Usage: ca.UsageDual})
	if err != nil {
		return nil, nil, err
	}
	creds, err := credentials(iss.Certs[0], iss.Certs[1], sk, ek)
	if err != nil {
		return nil, nil, err
	}
	pool, err := ReadRoots(filepath.Join(caDir, ca.RootFile))
	return creds, pool, err
}
