package middleware

import (
	"errors"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/shieldmsg"
	"github.com/fpemu/fpemu/se/sm"
)

// ErrServerSignature: the card refused the server's signature (6300)
// under its pinned server certificate — a phishing server, or an input
// altered on the way.
var ErrServerSignature = errors.New("middleware: the card refused the server's signature (6300)")

// ErrNoServerCert: the card has no pinned server certificate (6A88).
var ErrNoServerCert = errors.New("middleware: no server certificate pinned on the card (6A88)")

func shieldError(op string, err error) error {
	var ce *CardError
	if errors.As(err, &ce) {
		switch ce.SW {
		case cardproto.SWServerSignature:
			return ErrServerSignature
		case apdu.SWReferencedDataNotFound:
			return ErrNoServerCert
		}
	}
	return err
}

// PinServerCertificate pins the server's signing certificate (DER) on
// the card at personalisation (PUT DATA 0105 under the admin PIN). The
// card takes it once: a second call is *CardError 6985.
func (c *Card) PinServerCertificate(adminPIN string, der []byte) error {
	data := append(PINField(adminPIN), der...)
	defer clear(data[:cardproto.MaxPINLen])
	_, err := c.do("PUT DATA server certificate", apdu.Command{INS: cardproto.InsPutData, P1: 0x01, P2: 0x05, Data: data})
	return err
}

// ServerCertificate returns the pinned server certificate (DER).
func (c *Card) ServerCertificate() ([]byte, error) {
	b, err := c.do("GET DATA server certificate", apdu.Command{INS: cardproto.InsGetData, P1: 0x01, P2: 0x05, Ne: sm.MaxPlainData})
	return b, shieldError("GET DATA server certificate", err)
}

// ServerLogin is seed 002's login on the card (after Login with the user
// PIN): the card checks serverSig over the random under the pinned
// server certificate and returns its own signature over
// shieldmsg.CardLoginMessage(random). ErrServerSignature if the server
// is not the pinned one.
func (c *Card) ServerLogin(random, serverSig []byte) ([]byte, error) {
	b, err := c.do("INTERNAL AUTHENTICATE server login", apdu.Command{INS: cardproto.InsInternalAuth, P2: cardproto.P2ServerLogin,
		Data: shieldmsg.LoginAPDUData(random, serverSig), Ne: 256})
	return b, shieldError("INTERNAL AUTHENTICATE server login", err)
}

// ConfirmPreSubmit is seed 002's transaction step 3: VERIFY the user PIN,
// then the card checks the server's signature over (pre-submit, nonce)
// and signs shieldmsg.CardConfirmMessage. The card clears the PIN status
// after signing: each confirmation needs the PIN again.
func (c *Card) ConfirmPreSubmit(pin string, preSubmit, nonce, serverSig []byte) ([]byte, error) {
	if err := c.Login(pin); err != nil {
		return nil, err
	}
	b, err := c.do("PSO confirm pre-submit", apdu.Command{INS: cardproto.InsPSO, P1: 0x9E, P2: cardproto.P2Confirm,
		Data: shieldmsg.ConfirmAPDUData(preSubmit, nonce, serverSig), Ne: 256})
	return b, shieldError("PSO confirm pre-submit", err)
}
