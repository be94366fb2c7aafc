package channel

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// KeyExchanger is a static SM2 key-exchange key (the private key of an
// encryption certificate) as GB/T 32918.3 uses it. A TA implements it over
// its sealed store; NewKeyExchanger wraps an in-memory key.
type KeyExchanger interface {
	// PublicKey is the static public key (it must match the encryption
	// certificate).
	PublicKey() *ecdh.PublicKey
	// SM2MQV returns the point U (initiator) / V (responder) of
	// GB/T 32918.3 §6.1 from this static key, the local random key
	// eLocal, and the peer's static and random public keys. eLocal nil
	// means the static key is its own random point (profile gm).
	SM2MQV(eLocal *ecdh.PrivateKey, sRemote, eRemote *ecdh.PublicKey) (*ecdh.PublicKey, error)
}

type staticKey struct{ k *ecdh.PrivateKey }

// NewKeyExchanger wraps an in-memory SM2 private key.
func NewKeyExchanger(k *sm2.PrivateKey) (KeyExchanger, error) {
	e, err := k.ECDH()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return staticKey{e}, nil
}

func (s staticKey) PublicKey() *ecdh.PublicKey { return s.k.PublicKey() }

func (s staticKey) SM2MQV(eLocal *ecdh.PrivateKey, sRemote, eRemote *ecdh.PublicKey) (*ecdh.PublicKey, error) {
	if eLocal == nil {
		eLocal = s.k
	}
	return s.k.SM2MQV(eLocal, sRemote, eRemote)
}

// SM2Credentials are one side's dual certificates (seed 001 §2.2: a
// signing certificate for authentication, an encryption certificate for
// key agreement) and the keys behind them.
type SM2Credentials struct {
	SignCert *smx509.Certificate
	// Signer is the signing certificate's private key; it is called with
	// sm2.DefaultSM2SignerOpts (raw message, ZA with the default UID).
	Signer   crypto.Signer
	EncCert  *smx509.Certificate
	Exchange KeyExchanger
	// Decrypter is the encryption certificate's private key as GM/T 0010
	// envelopes need it (*sm2.PrivateKey); only OpenEnvelope uses it.
	Decrypter crypto.PrivateKey
}

func (c *SM2Credentials) check() error {
	if c == nil || c.SignCert == nil || c.Signer == nil || c.EncCert == nil || c.Exchange == nil {
		return fmt.Errorf("%w: SM2 credentials incomplete", ErrConfig)
	}
	pub, err := sm2Public(c.EncCert)
	if err != nil {
		return fmt.Errorf("%w: encryption certificate: %v", ErrConfig, err)
	}
	if !bytes.Equal(pub.Bytes(), c.Exchange.PublicKey().Bytes()) {
		return fmt.Errorf("%w: exchange key does not match the encryption certificate", ErrConfig)
	}
	return nil
}

// sm2Public returns the SM2 public key of a certificate as an ecdh key.
func sm2Public(cert *smx509.Certificate) (*ecdh.PublicKey, error) {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("not an SM2 key")
	}
	return sm2.PublicKeyToECDH(pub)
}

// peer is a verified certificate pair.
type peer struct {
	signDER, encDER []byte
	sign, enc       *smx509.Certificate
	signPub         *ecdsa.PublicKey
	encPub          *ecdh.PublicKey
}

// verifyPair checks a peer's dual certificates (docs/protocol.md §11.5):
// both parse, both chain to roots at now, the signing certificate has
// digitalSignature and the encryption certificate keyAgreement or
// keyEncipherment (GM/T 0015 dual-certificate usages), both carry SM2 keys
// and name the same subject.
func verifyPair(signDER, encDER []byte, roots *smx509.CertPool, now time.Time) (*peer, error) {
	sign, err := smx509.ParseCertificate(signDER)
	if err != nil {
		return nil, fmt.Errorf("%w: signing certificate does not parse", ErrCertificate)
	}
	enc, err := smx509.ParseCertificate(encDER)
	if err != nil {
		return nil, fmt.Errorf("%w: encryption certificate does not parse", ErrCertificate)
	}
	opts := smx509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}
	for _, c := range []*smx509.Certificate{sign, enc} {
		if _, err := c.Verify(opts); err != nil {
			return nil, fmt.Errorf("%w: does not chain to the trust anchors", ErrCertificate)
		}
	}
	if sign.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("%w: signing certificate lacks digitalSignature", ErrCertificate)
	}
	if enc.KeyUsage&(smx509.KeyUsageKeyAgreement|smx509.KeyUsageKeyEncipherment) == 0 {
		return nil, fmt.Errorf("%w: encryption certificate lacks keyAgreement/keyEncipherment", ErrCertificate)
	}
	if !bytes.Equal(sign.RawSubject, enc.RawSubject) {
		return nil, fmt.Errorf("%w: the two certificates name different subjects", ErrCertificate)
	}
	sp, ok := sign.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(sp) {
		return nil, fmt.Errorf("%w: signing key is not SM2", ErrCertificate)
	}
	ep, err := sm2Public(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: encryption key is not SM2", ErrCertificate)
	}
	return &peer{signDER: signDER, encDER: encDER, sign: sign, enc: enc, signPub: sp, encPub: ep}, nil
}
