package payserver

import (
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/internal/seam"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/payserver/wire"
)

// The canary seam: what a server weakened by payserver/canary (only in a
// test binary; Server.skip is empty otherwise) does instead of a
// stateless check. Each weakening removes exactly one verify rule and
// keeps the others, so an attack row run against it shows whether the row
// can report that rule missing.

// weakRegistration is the roots and the peer Registration checks a
// Register message against: the server's, or with seam.Roots the chain's
// own device key as the only root and with seam.Identity the chain's
// device as the peer.
func (s *Server) weakRegistration(m wire.Register, roots *verify.Roots, peer proof.DeviceID) (*verify.Roots, proof.DeviceID) {
	if s.skip&(seam.Roots|seam.Identity) == 0 {
		return roots, peer
	}
	dev, err := proof.VerifyDeviceCert(m.Device)
	if err != nil {
		return roots, peer // Registration refuses it
	}
	if s.skip&seam.Roots != 0 {
		roots = verify.NewRoots(dev.PublicKey)
	}
	if s.skip&seam.Identity != 0 {
		peer = dev.DeviceID
	}
	return roots, peer
}

// statement is verify.Statement, or in a canary server the same checks
// less the signature (seam.Signature) or the payload binding
// (seam.Binding).
func (s *Server) statement(signed []byte, key store.Key, peer proof.DeviceID, sum wire.Summary, requestID []byte) (store.Booking, proof.Statement, error) {
	if s.skip&(seam.Signature|seam.Binding) == 0 {
		return verify.Statement(signed, key, peer, sum, requestID)
	}
	if key.Revoked {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %s", verify.ErrKeyRevoked, key.Ref)
	}
	var st proof.Statement
	var err error
	if s.skip&seam.Signature != 0 {
		var sg proof.Signed
		if sg, err = proof.ParseSigned(signed); err == nil {
			st, err = proof.ParseStatement(sg.Body)
		}
		if err == nil && (st.DeviceID != key.Ref.Device || st.AppID != key.Ref.App || st.Scene != key.Ref.Scene) {
			err = fmt.Errorf("%w: statement names another device, app or scene", proof.ErrChain)
		}
	} else {
		cert := proof.Cert{Kind: proof.KindScene, DeviceID: key.Ref.Device, PublicKey: key.PublicKey, AppID: key.Ref.App, Scene: key.Ref.Scene}
		st, err = proof.VerifyStatement(signed, cert)
	}
	if err != nil {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %w", verify.ErrSignature, err)
	}
	if st.DeviceID != peer {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: statement of device %x", verify.ErrIdentity, st.DeviceID[:])
	}
	sum.Device = peer
	if s.skip&seam.Binding == 0 {
		payload, err := wire.Binding(sum)
		if err != nil {
			return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %w", verify.ErrPayload, err)
		}
		if st.PayloadHash != proof.PayloadHash(payload) {
			return store.Booking{}, proof.Statement{}, verify.ErrPayload
		}
	}
	return store.Booking{
		RequestID: append([]byte(nil), requestID...), StatementHash: proof.PayloadHash(signed),
		Key: key.Ref, Counter: st.Counter, Challenge: sum.Challenge, FingerID: st.FingerID,
		OrderID: sum.OrderID, Amount: sum.Amount, Currency: sum.Currency, Payee: sum.Payee,
	}, st, nil
}
