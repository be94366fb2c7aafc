package card

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/tee/store"
)

// SignLabelPrefix starts every message the card signs on its own account
// (INTERNAL AUTHENTICATE); PSO COMPUTE DIGITAL SIGNATURE refuses input
// that starts with it, so a transaction signature can never be passed off
// as a login response or the reverse.
const SignLabelPrefix = "fpemu/se/"

// InternalAuthLabel is what INTERNAL AUTHENTICATE signs before the
// challenge.
const InternalAuthLabel = SignLabelPrefix + "v1 internal-authenticate\x00"

// CertOrganization is the O of the card's PKCS#10 subject; its CN is
// "se-" and the serial number in hex.
const CertOrganization = "fpemu shield"

func loadKey(tx *store.Tx) (*sm2.PrivateKey, error) {
	b, ok, err := get(tx, objKey)
	if err != nil || !ok {
		return nil, err
	}
	return sm2.NewPrivateKey(b)
}

// privateKey returns the signing key, or nil if none was generated.
func (s *Session) privateKey(ctx context.Context) (k *sm2.PrivateKey, err error) {
	err = s.c.st.View(ctx, func(tx *store.Tx) error { k, err = loadKey(tx); return err })
	return k, err
}

// existingKey is the card's key for a command that needs one: a store
// failure is 6581, no key generated yet 6A88 (ISO/IEC 7816-4:2020
// §5.6, referenced data not found). Without a key it returns the answer
// to give and false.
func (s *Session) existingKey(ctx context.Context) (*sm2.PrivateKey, result, bool) {
	k, err := s.privateKey(ctx)
	if err != nil {
		return nil, s.memoryFailure("read key", err), false
	}
	if k == nil {
		return nil, fail(apdu.SWReferencedDataNotFound), false
	}
	return k, result{}, true
}

// userKey is existingKey for a command that also needs the user PIN
// verified in this session (requireUser: 6982, or 6985 while the
// transport PIN is unchanged).
func (s *Session) userKey(ctx context.Context) (*sm2.PrivateKey, result, bool) {
	if sw, ok := s.requireUser(ctx); !ok {
		return nil, fail(sw), false
	}
	return s.existingKey(ctx)
}

// MarshalPoint is the uncompressed SM2 point 04 ‖ X ‖ Y (GB/T 32918.1
// §4.2.9).
func MarshalPoint(pub *ecdsa.PublicKey) []byte {
	return elliptic.Marshal(sm2.P256(), pub.X, pub.Y) //nolint:staticcheck // the encoding, not ECDH
}

// ParsePoint is the inverse of MarshalPoint; the point must be on the
// SM2 curve.
func ParsePoint(b []byte) (*ecdsa.PublicKey, error) {
	x, y := elliptic.Unmarshal(sm2.P256(), b) //nolint:staticcheck
	if x == nil {
		return nil, errors.New("card: not an uncompressed SM2 point")
	}
	return &ecdsa.PublicKey{Curve: sm2.P256(), X: x, Y: y}, nil
}

// generateKeyPair is GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8:2019
// §5.1): P1 00 generates a new SM2 key pair on the card (GB/T 32918),
// replacing the old one and dropping its certificate, P1 81 reads the
// current public key; P2 00. The response is the public key data object
// 7F49 { 86 04‖X‖Y } (ISO/IEC 7816-8 Table 3). The private key never
// leaves the card: no command returns it. Generating needs the user PIN
// (requireUser).
func (s *Session) generateKeyPair(ctx context.Context, cmd apdu.Command) result {
	if (cmd.P1 != 0x00 && cmd.P1 != 0x81) || cmd.P2 != 0x00 || len(cmd.Data) != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	var pub *ecdsa.PublicKey
	if cmd.P1 == 0x81 {
		k, r, keyed := s.existingKey(ctx)
		if !keyed {
			return r
		}
		pub = &k.PublicKey
	} else {
		if sw, ok := s.requireUser(ctx); !ok {
			return fail(sw)
		}
		k, err := sm2.GenerateKey(s.c.rand)
		if err != nil {
			return s.memoryFailure("generate", err)
		}
		d := k.D.FillBytes(make([]byte, 32))
		if err := s.c.st.Tx(ctx, func(tx *store.Tx) error {
			if err := del(tx, objCert); err != nil {
				return err
			}
			return put(tx, objKey, d)
		}); err != nil {
			return s.memoryFailure("store key", err)
		}
		clear(d)
		pub = &k.PublicKey
		s.c.log.Info("key pair generated")
	}
	pt := MarshalPoint(pub)
	do := append([]byte{0x7F, 0x49, byte(2 + len(pt)), 0x86, byte(len(pt))}, pt...)
	return ok(do)
}

// pso is PERFORM SECURITY OPERATION: COMPUTE DIGITAL SIGNATURE (ISO/IEC
// 7816-8:2019 §5.2, P1 9E P2 9A: the data field is the input to sign, the
// response the signature). The signature is SM2 with SM3 over Z_A ‖ M
// (GB/T 32918.2 §6.1, GM/T 0009 default user ID 1234567812345678), DER
// SEQUENCE{r, s} (GM/T 0009 §7.3). It needs the user PIN verified in this
// session (6982), a changed transport PIN (6985) and a key (6A88); the
// input is 1..MaxSignInput bytes and may not start with SignLabelPrefix
// (6A80).
func (s *Session) pso(ctx context.Context, cmd apdu.Command) result {
	if cmd.P1 == 0x9E && cmd.P2 == cardproto.P2Confirm {
		return s.confirmPreSubmit(ctx, cmd)
	}
	if cmd.P1 != 0x9E || cmd.P2 != 0x9A {
		return fail(apdu.SWIncorrectP1P2)
	}
	if len(cmd.Data) == 0 || len(cmd.Data) > cardproto.MaxSignInput || bytes.HasPrefix(cmd.Data, []byte(SignLabelPrefix)) {
		return fail(apdu.SWWrongData)
	}
	return s.sign(ctx, cmd.Data)
}

func (s *Session) sign(ctx context.Context, msg []byte) result {
	k, r, keyed := s.userKey(ctx)
	if !keyed {
		return r
	}
	sig, err := k.Sign(s.c.rand, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return s.memoryFailure("sign", err)
	}
	return ok(sig)
}

// getChallenge is GET CHALLENGE (ISO/IEC 7816-4:2020 §11.5.3): P1 P2 00,
// Le = 1..32 random bytes, remembered for the session.
func (s *Session) getChallenge(cmd apdu.Command) result {
	if cmd.P1 != 0 || cmd.P2 != 0 || len(cmd.Data) != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if cmd.Ne == 0 || cmd.Ne > cardproto.MaxChallenge {
		return fail(apdu.SWWrongLe | apdu.SW(cardproto.MaxChallenge))
	}
	c := make([]byte, cmd.Ne)
	if _, err := s.c.rand.Read(c); err != nil {
		return s.memoryFailure("random", err)
	}
	s.chal = c
	return ok(c)
}

// internalAuthenticate is INTERNAL AUTHENTICATE (ISO/IEC 7816-4:2020
// §11.5.2): P1 00 (algorithm: SM2 with SM3), P2 00 (the card's key), data
// the host's challenge (cardproto.MinAuthChallenge..MaxAuthChallenge bytes); the
// response is the SM2 signature over InternalAuthLabel ‖ challenge, with
// Z_A as PSO. Same conditions as signing.
func (s *Session) internalAuthenticate(ctx context.Context, cmd apdu.Command) result {
	if cmd.P1 == 0 && cmd.P2 == cardproto.P2ServerLogin {
		return s.serverLogin(ctx, cmd)
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if len(cmd.Data) < cardproto.MinAuthChallenge || len(cmd.Data) > cardproto.MaxAuthChallenge {
		return fail(apdu.SWWrongData)
	}
	return s.sign(ctx, append([]byte(InternalAuthLabel), cmd.Data...))
}

// getData is GET DATA (ISO/IEC 7816-4:2020 §11.4.3) with P1-P2 the data
// object (cardproto.DOCertRequest, cardproto.DOCertificate, cardproto.DOSerial, cardproto.DOPublicKey).
func (s *Session) getData(ctx context.Context, cmd apdu.Command) result {
	if len(cmd.Data) != 0 {
		return fail(apdu.SWWrongLength)
	}
	switch uint16(cmd.P1)<<8 | uint16(cmd.P2) {
	case cardproto.DOSerial:
		sn, err := s.c.Serial(ctx)
		if err != nil {
			return s.memoryFailure("serial", err)
		}
		return ok(sn)
	case cardproto.DOPublicKey:
		k, r, keyed := s.existingKey(ctx)
		if !keyed {
			return r
		}
		return ok(MarshalPoint(&k.PublicKey))
	case cardproto.DOCertificate:
		var der []byte
		err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { der, _, err = get(tx, objCert); return err })
		if err != nil {
			return s.memoryFailure("read certificate", err)
		}
		if der == nil {
			return fail(apdu.SWReferencedDataNotFound)
		}
		return ok(der)
	case cardproto.DOCertRequest:
		return s.certRequest(ctx)
	case cardproto.DOServerCert:
		return s.getServerCert(ctx)
	}
	return fail(apdu.SWReferencedDataNotFound)
}

// certRequest signs a PKCS#10 request (RFC 2986) for the card's key with
// SM2-with-SM3 (GB/T 35275 via gmsm smx509), subject CN "se-<serial hex>",
// O CertOrganization: what the CA's device profile accepts.
func (s *Session) certRequest(ctx context.Context) result {
	k, r, keyed := s.userKey(ctx)
	if !keyed {
		return r
	}
	sn, err := s.c.Serial(ctx)
	if err != nil {
		return s.memoryFailure("serial", err)
	}
	tmpl := &smx509.CertificateRequest{}
	tmpl.Subject.CommonName = fmt.Sprintf("se-%x", sn)
	tmpl.Subject.Organization = []string{CertOrganization}
	der, err := smx509.CreateCertificateRequest(s.c.rand, tmpl, k)
	if err != nil {
		return s.memoryFailure("PKCS#10", err)
	}
	return ok(der)
}

// putData is PUT DATA (ISO/IEC 7816-4:2020 §11.4.6): only cardproto.DOCertificate,
// whose data is the CA's PKCS#7 certs-only response (RFC 2315 §9.1; seed
// 002 step 8-9: the card takes the X.509 certificate out of the P7 and
// checks it). It needs the user PIN. The checks, each 6A80 when it
// fails: the P7 parses and carries certificates and nothing else; exactly
// one certificate has the card's public key; it is an SM2 certificate
// with digitalSignature usage, valid now, not a CA; its signature
// verifies against an issuer certificate in the same P7 that is a CA.
// With no key on the card the answer is 6A88.
func (s *Session) putData(ctx context.Context, cmd apdu.Command) result {
	if uint16(cmd.P1)<<8|uint16(cmd.P2) == cardproto.DOServerCert {
		return s.putServerCert(ctx, cmd)
	}
	if uint16(cmd.P1)<<8|uint16(cmd.P2) != cardproto.DOCertificate {
		return fail(apdu.SWReferencedDataNotFound)
	}
	k, r, keyed := s.userKey(ctx)
	if !keyed {
		return r
	}
	leaf, reason := checkCertificate(cmd.Data, &k.PublicKey, s.c.now())
	if leaf == nil {
		s.c.log.Info("certificate refused", zap.String("reason", reason))
		return fail(apdu.SWWrongData)
	}
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return put(tx, objCert, leaf.Raw) }); err != nil {
		return s.memoryFailure("store certificate", err)
	}
	s.c.log.Info("certificate imported", zap.String("serial", leaf.SerialNumber.Text(16)))
	return ok(nil)
}

// checkCertificate returns the P7's certificate of pub, or nil and why.
func checkCertificate(p7der []byte, pub *ecdsa.PublicKey, now time.Time) (*smx509.Certificate, string) {
	p7, err := pkcs7.Parse(p7der)
	if err != nil {
		return nil, "PKCS#7 does not parse"
	}
	if len(p7.Certificates) == 0 || len(p7.Signers) != 0 || len(p7.Content) != 0 {
		return nil, "not a certs-only PKCS#7"
	}
	var leaf *smx509.Certificate
	for _, c := range p7.Certificates {
		cp, ok := c.PublicKey.(*ecdsa.PublicKey)
		if ok && cp.Curve == sm2.P256() && cp.X.Cmp(pub.X) == 0 && cp.Y.Cmp(pub.Y) == 0 {
			if leaf != nil {
				return nil, "two certificates of the card's key"
			}
			leaf = c
		}
	}
	switch {
	case leaf == nil:
		return nil, "no certificate of the card's key"
	case leaf.IsCA:
		return nil, "the card's certificate is a CA"
	case leaf.KeyUsage&smx509.KeyUsageDigitalSignature == 0:
		return nil, "no digitalSignature key usage"
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, "outside its validity period"
	}
	for _, c := range p7.Certificates {
		if c != leaf && c.IsCA && bytes.Equal(c.RawSubject, leaf.RawIssuer) && leaf.CheckSignatureFrom(c) == nil {
			return leaf, ""
		}
	}
	return nil, "no issuer in the PKCS#7 verifies it"
}
