package card

import (
	"context"
	"crypto/ecdsa"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/shieldmsg"
	"github.com/fpemu/fpemu/tee/store"
)

// objServerCert holds the pinned server certificate (DER).
const objServerCert = "cert.server"

// serverKey returns the pinned server certificate's SM2 key, nil if none
// is pinned, and a refusal status word if the certificate is no longer
// valid.
func (s *Session) serverKey(ctx context.Context) (*ecdsa.PublicKey, apdu.SW, error) {
	var der []byte
	err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { der, _, err = get(tx, objServerCert); return err })
	if err != nil || der == nil {
		return nil, apdu.SWReferencedDataNotFound, err
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, apdu.SWMemoryFailure, err
	}
	if now := s.c.now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, apdu.SWConditionsNotSatisfied, nil
	}
	return cert.PublicKey.(*ecdsa.PublicKey), apdu.SWOK, nil
}

// putServerCert is PUT DATA 0105: data = admin PIN field (16 bytes,
// FF-padded) ‖ the server's signing certificate (DER). The certificate
// is pinned once: a card that has one answers 6985 before any PIN try
// is spent, so no later REE can swap the server the card trusts (seed
// 002: the certificate download terminal installs it at the bank
// counter). The admin PIN is checked on its own counter (63CX, 6983).
// The certificate must parse, hold an SM2 key, have digitalSignature,
// not be a CA and be valid now (6A80).
func (s *Session) putServerCert(ctx context.Context, cmd apdu.Command) result {
	if len(cmd.Data) <= pinBlockSize {
		return fail(apdu.SWWrongData)
	}
	var have bool
	if err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { _, have, err = get(tx, objServerCert); return err }); err != nil {
		return s.memoryFailure("read server certificate", err)
	}
	if have {
		return fail(apdu.SWConditionsNotSatisfied)
	}
	admin, valid := unpad(cmd.Data[:pinBlockSize])
	if !valid {
		return fail(apdu.SWWrongData)
	}
	der := cmd.Data[pinBlockSize:]
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return fail(apdu.SWWrongData)
	}
	pub, isEC := cert.PublicKey.(*ecdsa.PublicKey)
	now := s.c.now()
	if !isEC || pub.Curve != sm2.P256() || cert.IsCA || cert.KeyUsage&smx509.KeyUsageDigitalSignature == 0 ||
		now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fail(apdu.SWWrongData)
	}
	if _, sw := s.checkPIN(ctx, RefAdmin, admin); sw != apdu.SWOK {
		return fail(sw)
	}
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return put(tx, objServerCert, cert.Raw) }); err != nil {
		return s.memoryFailure("store server certificate", err)
	}
	s.c.log.Info("server certificate pinned", zap.String("subject", cert.Subject.CommonName))
	return ok(nil)
}

// getServerCert is GET DATA 0105.
func (s *Session) getServerCert(ctx context.Context) result {
	var der []byte
	if err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { der, _, err = get(tx, objServerCert); return err }); err != nil {
		return s.memoryFailure("read server certificate", err)
	}
	if der == nil {
		return fail(apdu.SWReferencedDataNotFound)
	}
	return ok(der)
}

// checkServer verifies sig over msg under the pinned server key: 6A88
// with no pinned certificate, 6985 if it expired, 6300 if the signature
// does not verify (a phishing server, or an REE that altered the input).
func (s *Session) checkServer(ctx context.Context, msg, sig []byte) (apdu.SW, bool) {
	if s.c.weak.NoServerCheck {
		return apdu.SWOK, true
	}
	pub, sw, err := s.serverKey(ctx)
	if err != nil {
		return s.memoryFailure("server certificate", err).sw, false
	}
	if sw != apdu.SWOK {
		return sw, false
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, msg, sig) {
		s.c.log.Warn("server signature refused")
		return cardproto.SWServerSignature, false
	}
	return apdu.SWOK, true
}

// serverLogin is INTERNAL AUTHENTICATE P1 00 P2 01 (seed 002 login, step
// 4): data = u8 n ‖ random (16..64) ‖ the server's signature over
// shieldmsg.LoginMessage(random). The card verifies it under the pinned
// server certificate and only then signs shieldmsg.CardLoginMessage
// (random) with its own key (user PIN verified, as every signature).
func (s *Session) serverLogin(ctx context.Context, cmd apdu.Command) result {
	random, sig, err := shieldmsg.ParseLoginAPDUData(cmd.Data)
	if err != nil {
		return fail(apdu.SWWrongData)
	}
	if sw, ok := s.requireUser(ctx); !ok {
		return fail(sw)
	}
	if sw, ok := s.checkServer(ctx, shieldmsg.LoginMessage(random), sig); !ok {
		return fail(sw)
	}
	return s.sign(ctx, shieldmsg.CardLoginMessage(random))
}

// confirmPreSubmit is PSO COMPUTE DIGITAL SIGNATURE P1 9E P2 BC (seed
// 002 transaction, step 3): data = shieldmsg.ConfirmAPDUData(pre-submit,
// nonce, server signature). The pre-submit must parse (6A80); the
// server's signature over shieldmsg.ServerPreSubmitMessage must verify
// under the pinned certificate (6300); the user PIN must be verified in
// this session (6982). The card then signs
// shieldmsg.CardConfirmMessage(pre-submit, nonce) and clears the PIN
// status: one PIN entry confirms one transaction, so malware that
// watched a confirmation cannot have a second one signed without the
// user typing the PIN again.
func (s *Session) confirmPreSubmit(ctx context.Context, cmd apdu.Command) result {
	ps, nonce, sig, err := shieldmsg.ParseConfirmAPDUData(cmd.Data)
	if err != nil {
		return fail(apdu.SWWrongData)
	}
	if _, err := shieldmsg.ParsePreSubmit(ps); err != nil {
		return fail(apdu.SWWrongData)
	}
	if sw, ok := s.requireUser(ctx); !ok {
		return fail(sw)
	}
	if sw, ok := s.checkServer(ctx, shieldmsg.ServerPreSubmitMessage(ps, nonce), sig); !ok {
		return fail(sw)
	}
	r := s.sign(ctx, shieldmsg.CardConfirmMessage(ps, nonce))
	if r.sw == apdu.SWOK {
		s.verified = false
	}
	return r
}
