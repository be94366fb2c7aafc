package channel

import (
	"fmt"
	"time"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// MaxEnvelope bounds the DER of one envelope OpenEnvelope reads: the
// largest application message (chanwire.MaxCustom plus identifiers), the
// signer's certificate, the wrapped key and the ASN.1 framing, with room.
const MaxEnvelope = 16 * 1024

// SealEnvelope is seed 001's per-message digital envelope for
// store-and-forward (docs/protocol.md §11.10), in GM/T 0010 (PKCS #7 with
// the SM OIDs) form, signed then enveloped: a SignedData (SM3 with SM2,
// the sender's signing certificate included) over the application
// message's content TLVs, enveloped as an EnvelopedData (SM4-GCM content
// key wrapped with SM2 to the recipient's encryption certificate). Unlike
// gmsm's SignedAndEnvelopedData, the signature is inside the ciphertext,
// so it does not confirm guesses about the plaintext.
func SealEnvelope(m chanwire.AppMessage, sender *SM2Credentials, recipientEnc *smx509.Certificate) ([]byte, error) {
	if sender == nil || sender.SignCert == nil || sender.Signer == nil || recipientEnc == nil {
		return nil, fmt.Errorf("%w: envelope needs the sender's signing key and the recipient's encryption certificate", ErrConfig)
	}
	content, err := m.Content()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	sd, err := pkcs7.NewSMSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("%w: signed data: %v", ErrEnvelope, err)
	}
	if err := sd.AddSigner(sender.SignCert, sender.Signer, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("%w: signing: %v", ErrEnvelope, err)
	}
	signed, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("%w: signing: %v", ErrEnvelope, err)
	}
	env, err := pkcs7.EncryptSM(pkcs.SM4GCM, signed, []*smx509.Certificate{recipientEnc})
	if err != nil {
		return nil, fmt.Errorf("%w: enveloping: %v", ErrEnvelope, err)
	}
	return env, nil
}

// OpenEnvelope reverses SealEnvelope. Checks, in order, each ErrEnvelope:
// size ≤ MaxEnvelope; the EnvelopedData parses and decrypts with the
// recipient's encryption key; the inner SignedData parses and its
// signature verifies with a signer certificate that chains to roots at
// now; the content is an application message (ErrMalformed). It returns
// the message and the signer's certificate, whose identity the caller
// checks (the registry).
func OpenEnvelope(der []byte, recipient *SM2Credentials, roots *smx509.CertPool, now time.Time) (chanwire.AppMessage, *smx509.Certificate, error) {
	if recipient == nil || recipient.EncCert == nil || recipient.Decrypter == nil || roots == nil {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: envelope needs the recipient's encryption key and the roots", ErrConfig)
	}
	if len(der) > MaxEnvelope {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: %d bytes > %d", ErrEnvelope, len(der), MaxEnvelope)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: does not parse", ErrEnvelope)
	}
	signed, err := p7.Decrypt(recipient.EncCert, recipient.Decrypter)
	if err != nil {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: does not decrypt", ErrEnvelope)
	}
	sd, err := pkcs7.Parse(signed)
	if err != nil {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: inner signed data does not parse", ErrEnvelope)
	}
	if err := sd.VerifyWithChainAtTime(roots, &now); err != nil {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: signature or signer chain: %v", ErrEnvelope, err)
	}
	signer := sd.GetOnlySigner()
	if signer == nil || signer.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: signer certificate lacks digitalSignature", ErrEnvelope)
	}
	m, err := chanwire.ParseAppMessage(sd.Content)
	if err != nil || len(m.Signature) != 0 {
		return chanwire.AppMessage{}, nil, fmt.Errorf("%w: content is not an unsigned application message", ErrMalformed)
	}
	return m, signer, nil
}
