package proof

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// DistID is the SM2 distinguishing identifier of every fpemu payment
// signature: the default "1234567812345678" of GM/T 0009.
const DistID = "1234567812345678"

// Sign signs body with priv — SM2 with SM3 and DistID, DER-encoded, fresh
// randomness from crypto/rand — and returns the framed signed object.
func Sign(priv *sm2.PrivateKey, body []byte) ([]byte, error) {
	sig, err := priv.SignWithSM2(rand.Reader, []byte(DistID), body)
	if err != nil {
		return nil, fmt.Errorf("proof: sign: %w", err)
	}
	return Signed{Body: body, Signature: sig}.Marshal()
}

// ECDSA returns pub as an SM2 *ecdsa.PublicKey, or ErrSignature if it is
// not a point of the SM2 curve.
func (pub PublicKey) ECDSA() (*ecdsa.PublicKey, error) {
	k, err := sm2.NewPublicKey(pub[:])
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrSignature, err)
	}
	return k, nil
}

// PEM returns pub as a PEM "PUBLIC KEY" (SubjectPublicKeyInfo with the
// SM2 curve OID 1.2.156.10197.1.301), the form `openssl dgst -verify`
// reads.
func (pub PublicKey) PEM() ([]byte, error) {
	k, err := pub.ECDSA()
	if err != nil {
		return nil, err
	}
	der, err := smx509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("proof: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// PublicKeyOf returns the uncompressed point of k.
func PublicKeyOf(k *ecdsa.PublicKey) PublicKey {
	var p PublicKey
	p[0] = 0x04
	k.X.FillBytes(p[1:33])
	k.Y.FillBytes(p[33:65])
	return p
}

// verifySigned parses signed and checks its signature under pub.
func verifySigned(signed []byte, pub PublicKey) (Signed, error) {
	s, err := ParseSigned(signed)
	if err != nil {
		return Signed{}, err
	}
	k, err := pub.ECDSA()
	if err != nil {
		return Signed{}, err
	}
	if !sm2.VerifyASN1WithSM2(k, []byte(DistID), s.Body, s.Signature) {
		return Signed{}, fmt.Errorf("%w: SM2 verification failed", ErrSignature)
	}
	return s, nil
}

// VerifyDeviceCert checks a self-signed device certificate: well formed,
// kind device, device_id = DeviceIDOf(public key), signature by its own
// key. A self-signature proves possession only; a payment server trusts a
// device key by registering it out of band (SOTER: the vendor uploads the
// ATTK public key at the factory).
func VerifyDeviceCert(signed []byte) (Cert, error) {
	s, err := ParseSigned(signed)
	if err != nil {
		return Cert{}, err
	}
	c, err := ParseCert(s.Body)
	if err != nil {
		return Cert{}, err
	}
	if c.Kind != KindDevice {
		return Cert{}, fmt.Errorf("%w: %s certificate where a device certificate is expected", ErrChain, c.Kind)
	}
	if DeviceIDOf(c.PublicKey) != c.DeviceID {
		return Cert{}, fmt.Errorf("%w: device id is not derived from the device key", ErrChain)
	}
	if _, err := verifySigned(signed, c.PublicKey); err != nil {
		return Cert{}, err
	}
	return c, nil
}

// VerifyCert checks a certificate issued by issuer: an app certificate by a
// device certificate, or a scene certificate by an app certificate of the
// same app. The device id must match, and the signature must verify under
// the issuer's key.
func VerifyCert(signed []byte, issuer Cert) (Cert, error) {
	s, err := verifySigned(signed, issuer.PublicKey)
	if err != nil {
		return Cert{}, err
	}
	c, err := ParseCert(s.Body)
	if err != nil {
		return Cert{}, err
	}
	switch {
	case c.Kind == KindApp && issuer.Kind == KindDevice:
	case c.Kind == KindScene && issuer.Kind == KindApp:
		if c.AppID != issuer.AppID {
			return Cert{}, fmt.Errorf("%w: scene certificate of another app", ErrChain)
		}
	default:
		return Cert{}, fmt.Errorf("%w: %s certificate issued by a %s key", ErrChain, c.Kind, issuer.Kind)
	}
	if c.DeviceID != issuer.DeviceID {
		return Cert{}, fmt.Errorf("%w: certificate of another device", ErrChain)
	}
	return c, nil
}

// VerifyChain checks device → app → scene and returns the three
// certificates. The caller decides whether it trusts the device
// certificate's key (compare it with the registered one).
func VerifyChain(device, app, scene []byte) (dev, a, sc Cert, err error) {
	if dev, err = VerifyDeviceCert(device); err != nil {
		return Cert{}, Cert{}, Cert{}, fmt.Errorf("device certificate: %w", err)
	}
	if a, err = VerifyCert(app, dev); err != nil {
		return Cert{}, Cert{}, Cert{}, fmt.Errorf("app certificate: %w", err)
	}
	if sc, err = VerifyCert(scene, a); err != nil {
		return Cert{}, Cert{}, Cert{}, fmt.Errorf("scene certificate: %w", err)
	}
	return dev, a, sc, nil
}

// VerifyStatement checks a signed payment statement against the scene
// certificate of the key that must have signed it: signature, device,
// app and scene. It does not check the challenge or the payload; see
// VerifyPayment.
func VerifyStatement(signed []byte, scene Cert) (Statement, error) {
	if scene.Kind != KindScene {
		return Statement{}, fmt.Errorf("%w: statement checked against a %s certificate", ErrChain, scene.Kind)
	}
	s, err := verifySigned(signed, scene.PublicKey)
	if err != nil {
		return Statement{}, err
	}
	st, err := ParseStatement(s.Body)
	if err != nil {
		return Statement{}, err
	}
	if st.DeviceID != scene.DeviceID || st.AppID != scene.AppID || st.Scene != scene.Scene {
		return Statement{}, fmt.Errorf("%w: statement names another device, app or scene", ErrChain)
	}
	return st, nil
}

// VerifyPayment is what a payment server runs on a signed payment: the
// statement verifies under the scene certificate (VerifyStatement), signs
// the challenge the server issued, and the SM3 hash of the payload the
// server expects. Counter monotonicity (reject a counter not above the
// last one seen for the device, SOTER's rule) needs the server's state and
// is the caller's job.
func VerifyPayment(signed []byte, scene Cert, challenge uint64, payload []byte) (Statement, error) {
	st, err := VerifyStatement(signed, scene)
	if err != nil {
		return Statement{}, err
	}
	if st.Challenge != challenge {
		return Statement{}, fmt.Errorf("%w: statement for challenge %#x, expected %#x", ErrChallenge, st.Challenge, challenge)
	}
	if st.PayloadHash != PayloadHash(payload) {
		return Statement{}, fmt.Errorf("%w", ErrPayload)
	}
	return st, nil
}
