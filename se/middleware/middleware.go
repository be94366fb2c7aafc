// Package middleware is the shield's REE security middleware (seed 002
// 安全中間件; docs/protocol.md §15.5): the API a banking app calls — log
// in with the user PIN, sign a transaction, manage PINs, enrol a
// certificate — over any transport that carries APDUs (the Unix socket
// of se/transport, or PC/SC), with every sensitive APDU under secure
// messaging (se/sm).
//
// The static secure-messaging key is never stored whole on the host: it
// is a Shamir split (se/keyshare) whose shares are files in different
// places, and Open recombines it from whichever shares are present. A
// wrong or short set of shares is an error before any APDU is sent
// with the key.
//
// Errors: a wrong PIN is *PINError (tries left), a blocked PIN
// ErrBlocked, any other refusal *CardError (the status word); a secure
// messaging failure (the card answered 6987/6988, or its response did
// not verify) wraps sm.ErrInvalid or sm.ErrMissing and ends the Card:
// open a new one. PINs are never logged or put in errors.
package middleware

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/keyshare"
	"github.com/fpemu/fpemu/se/sm"
)

// Transmitter carries one command APDU to the card and returns the
// response APDU: transport.Client, a PC/SC card handle, or a card
// session in tests.
type Transmitter interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Errors.
var (
	ErrBlocked  = errors.New("middleware: PIN blocked (6983)")
	ErrNoShares = errors.New("middleware: no key share found")
	ErrClosed   = errors.New("middleware: card session ended")
)

// PINError is a wrong PIN: TriesLeft more tries before the PIN blocks.
type PINError struct{ TriesLeft int }

func (e *PINError) Error() string {
	return fmt.Sprintf("middleware: wrong PIN, %d tries left", e.TriesLeft)
}

// CardError is any other status word the card answered.
type CardError struct {
	Op string
	SW apdu.SW
}

func (e *CardError) Error() string {
	return fmt.Sprintf("middleware: %s: card answered %s", e.Op, e.SW)
}

// swError turns a status word into the package's error (nil for 9000).
func swError(op string, sw apdu.SW) error {
	if sw == apdu.SWOK {
		return nil
	}
	if n, ok := sw.Tries(); ok {
		return &PINError{TriesLeft: n}
	}
	if sw == apdu.SWAuthMethodBlocked {
		return ErrBlocked
	}
	return &CardError{Op: op, SW: sw}
}

// plain sends an unprotected command and returns the parsed response.
func plain(tx Transmitter, c apdu.Command) (apdu.Response, error) {
	raw, err := c.Marshal()
	if err != nil {
		return apdu.Response{}, err
	}
	out, err := tx.Transmit(raw)
	if err != nil {
		return apdu.Response{}, fmt.Errorf("middleware: transmit: %w", err)
	}
	return apdu.ParseResponse(out)
}

func selectApplet(tx Transmitter) error {
	r, err := plain(tx, apdu.Command{INS: cardproto.InsSelect, P1: 0x04, P2: 0x0C, Data: cardproto.AID})
	if err != nil {
		return err
	}
	return swError("SELECT", r.SW)
}

func readSerial(tx Transmitter) ([keyshare.SerialSize]byte, error) {
	r, err := plain(tx, apdu.Command{INS: cardproto.InsGetData, P1: 0x01, P2: 0x03, Ne: keyshare.SerialSize})
	if err != nil {
		return [keyshare.SerialSize]byte{}, err
	}
	if err := swError("GET DATA serial", r.SW); err != nil {
		return [keyshare.SerialSize]byte{}, err
	}
	return keyshare.SerialOf(r.Data)
}

// PINField is a PIN as the card's two-PIN commands take it: the ASCII
// digits padded with FF to 16 bytes.
func PINField(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, cardproto.MaxPINLen)
	copy(b, pin)
	return b
}

// Personalise is the key-split initialisation of seed 002: the card
// generates its static SM key (INITIALIZE SM KEY, under the admin PIN),
// the middleware splits it into len(paths) shares of which any k
// recover it, writes share i to paths[i] (new files, 0600) and forgets
// the key. Put the paths in different places: the app's sandbox should
// hold fewer than k of them.
func Personalise(tx Transmitter, adminPIN string, paths []string, k int, rnd io.Reader) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	if k < 2 || k > len(paths) || len(paths) > keyshare.MaxShares {
		return keyshare.ErrParams
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("middleware: share file %s exists", p)
		}
	}
	if err := selectApplet(tx); err != nil {
		return err
	}
	serial, err := readSerial(tx)
	if err != nil {
		return err
	}
	field := PINField(adminPIN)
	r, err := plain(tx, apdu.Command{CLA: cardproto.ClaProprietary, INS: cardproto.InsInitSMKey, Data: field, Ne: sm.KeySize})
	clear(field)
	if err != nil {
		return err
	}
	if err := swError("INITIALIZE SM KEY", r.SW); err != nil {
		return err
	}
	key := r.Data
	defer clear(key)
	shares, err := keyshare.Split(rnd, key, serial, k, len(paths))
	if err != nil {
		return err
	}
	for i, p := range paths {
		if err := keyshare.WriteFile(p, shares[i]); err != nil {
			return err
		}
	}
	return nil
}

// Card is one secure-messaging session with a card.
type Card struct {
	tx     Transmitter
	sess   *sm.Session
	serial [keyshare.SerialSize]byte
}

// Open selects the applet, recombines the SM key from the share files
// at paths (a missing file is skipped; any file present must be a valid
// share; fewer than k valid shares is keyshare.ErrTooFew) and runs
// GET CHALLENGE / MUTUAL AUTHENTICATE, checking the card's cryptogram.
func Open(tx Transmitter, paths []string, rnd io.Reader) (*Card, error) {
	return OpenWith(tx, paths, OpenOptions{Rand: rnd})
}

// OpenOptions are OpenWith's optional inputs.
type OpenOptions struct {
	Rand io.Reader // default crypto/rand
	// Combine recombines the secure-messaging key from the shares read
	// (default keyshare.Combine). A test seam: the attack suite's
	// canary (sim/attack TestShieldCanaries) puts a careless combiner
	// here to prove the few-shares row can fail; apps leave it nil.
	Combine func(shares []keyshare.Share, serial [keyshare.SerialSize]byte) ([]byte, error)
}

// OpenWith is Open with options.
func OpenWith(tx Transmitter, paths []string, o OpenOptions) (*Card, error) {
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	combine := o.Combine
	if combine == nil {
		combine = keyshare.Combine
	}
	var shares []keyshare.Share
	for _, p := range paths {
		s, err := keyshare.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		shares = append(shares, s)
	}
	if len(shares) == 0 {
		return nil, ErrNoShares
	}
	if err := selectApplet(tx); err != nil {
		return nil, err
	}
	serial, err := readSerial(tx)
	if err != nil {
		return nil, err
	}
	key, err := combine(shares, serial)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	r, err := plain(tx, apdu.Command{INS: cardproto.InsGetChallenge, Ne: sm.RandSize})
	if err != nil {
		return nil, err
	}
	if err := swError("GET CHALLENGE", r.SW); err != nil {
		return nil, err
	}
	icc := r.Data
	ifd := make([]byte, sm.RandSize)
	if _, err := io.ReadFull(rnd, ifd); err != nil {
		return nil, err
	}
	hc, err := sm.HostCryptogram(key, icc, ifd)
	if err != nil {
		return nil, err
	}
	r, err = plain(tx, apdu.Command{INS: cardproto.InsMutualAuth, Data: append(append([]byte{}, ifd...), hc...), Ne: sm.CryptoSize})
	if err != nil {
		return nil, err
	}
	if err := swError("MUTUAL AUTHENTICATE", r.SW); err != nil {
		return nil, err
	}
	want, err := sm.CardCryptogram(key, icc, ifd)
	if err != nil {
		return nil, err
	}
	if err := sm.CheckCryptogram(r.Data, want); err != nil {
		return nil, err
	}
	sess, err := sm.NewSession(key, icc, ifd)
	if err != nil {
		return nil, err
	}
	return &Card{tx: tx, sess: sess, serial: serial}, nil
}

// Serial is the card's serial number.
func (c *Card) Serial() [keyshare.SerialSize]byte { return c.serial }

// Close ends the secure-messaging session (the keys are wiped).
func (c *Card) Close() { c.sess.Kill() }

// Transmit sends one command under secure messaging and returns the
// unwrapped response. A transport or secure-messaging failure ends the
// session.
func (c *Card) Transmit(cmd apdu.Command) (apdu.Response, error) {
	if !c.sess.Alive() {
		return apdu.Response{}, ErrClosed
	}
	w, err := c.sess.WrapCommand(cmd)
	if err != nil {
		return apdu.Response{}, err
	}
	raw, err := w.Marshal()
	if err != nil {
		c.sess.Kill()
		return apdu.Response{}, err
	}
	out, err := c.tx.Transmit(raw)
	if err != nil {
		c.sess.Kill()
		return apdu.Response{}, fmt.Errorf("middleware: transmit: %w", err)
	}
	r, err := apdu.ParseResponse(out)
	if err != nil {
		c.sess.Kill()
		return apdu.Response{}, err
	}
	return c.sess.UnwrapResponse(r)
}

func (c *Card) do(op string, cmd apdu.Command) ([]byte, error) {
	r, err := c.Transmit(cmd)
	if err != nil {
		return nil, err
	}
	if err := swError(op, r.SW); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Login verifies the user PIN (VERIFY); the card then allows signing in
// this session. A wrong PIN is *PINError, a blocked one ErrBlocked.
func (c *Card) Login(pin string) error {
	_, err := c.do("VERIFY", apdu.Command{INS: cardproto.InsVerify, P2: cardproto.RefUser, Data: []byte(pin)})
	return err
}

// Logout clears the card's PIN status (VERIFY P1 FF).
func (c *Card) Logout() error {
	_, err := c.do("VERIFY reset", apdu.Command{INS: cardproto.InsVerify, P1: 0xFF, P2: cardproto.RefUser})
	return err
}

// PINStatus returns the user PIN's tries left (spending none) and
// whether it is verified in this session.
func (c *Card) PINStatus() (tries int, verified bool, err error) {
	r, err := c.Transmit(apdu.Command{INS: cardproto.InsVerify, P2: cardproto.RefUser})
	if err != nil {
		return 0, false, err
	}
	if r.SW == apdu.SWOK {
		return cardproto.MaxUserTries, true, nil
	}
	if n, ok := r.SW.Tries(); ok {
		return n, false, nil
	}
	return 0, false, swError("VERIFY status", r.SW)
}

// ChangePIN changes the user PIN (CHANGE REFERENCE DATA).
func (c *Card) ChangePIN(old, nw string) error {
	data := append(PINField(old), PINField(nw)...)
	defer clear(data)
	_, err := c.do("CHANGE REFERENCE DATA", apdu.Command{INS: cardproto.InsChangeRefData, P2: cardproto.RefUser, Data: data})
	return err
}

// Unblock sets a new user PIN with the admin PIN (RESET RETRY COUNTER,
// SKF_UnblockPIN).
func (c *Card) Unblock(adminPIN, nw string) error {
	data := append(PINField(adminPIN), PINField(nw)...)
	defer clear(data)
	_, err := c.do("RESET RETRY COUNTER", apdu.Command{INS: cardproto.InsResetRetry, P2: cardproto.RefUser, Data: data})
	return err
}

// GenerateKey generates the card's SM2 key pair (after Login) and returns
// the public key 04 ‖ X ‖ Y.
func (c *Card) GenerateKey() ([]byte, error) {
	do, err := c.do("GENERATE KEY PAIR", apdu.Command{INS: cardproto.InsGenerateKeyPair, Ne: 256})
	if err != nil {
		return nil, err
	}
	if len(do) != 5+65 || !bytes.HasPrefix(do, []byte{0x7F, 0x49, 0x43, 0x86, 0x41}) {
		return nil, &CardError{Op: "GENERATE KEY PAIR", SW: apdu.SWUnknown}
	}
	return do[5:], nil
}

// PublicKey returns the card's public key 04 ‖ X ‖ Y.
func (c *Card) PublicKey() ([]byte, error) {
	return c.do("GET DATA public key", apdu.Command{INS: cardproto.InsGetData, P1: 0x01, P2: 0x04, Ne: 256})
}

// CertRequest returns a PKCS#10 request for the card's key (after Login).
func (c *Card) CertRequest() ([]byte, error) {
	return c.do("GET DATA PKCS#10", apdu.Command{INS: cardproto.InsGetData, P1: 0x01, P2: 0x01, Ne: sm.MaxPlainData})
}

// ImportCertificate writes the CA's PKCS#7 certs-only response to the
// card, which checks it (after Login).
func (c *Card) ImportCertificate(p7 []byte) error {
	_, err := c.do("PUT DATA certificate", apdu.Command{INS: cardproto.InsPutData, P1: 0x01, P2: 0x02, Data: p7})
	return err
}

// Certificate returns the card's certificate (DER).
func (c *Card) Certificate() ([]byte, error) {
	return c.do("GET DATA certificate", apdu.Command{INS: cardproto.InsGetData, P1: 0x01, P2: 0x02, Ne: sm.MaxPlainData})
}

// SignTransaction has the card sign msg (PSO COMPUTE DIGITAL SIGNATURE,
// SM2 with Z; after Login) and returns the DER signature.
func (c *Card) SignTransaction(msg []byte) ([]byte, error) {
	return c.do("PSO COMPUTE DIGITAL SIGNATURE", apdu.Command{INS: cardproto.InsPSO, P1: 0x9E, P2: 0x9A, Data: msg, Ne: 256})
}

// Authenticate has the card sign a server's login random (INTERNAL
// AUTHENTICATE; after Login).
func (c *Card) Authenticate(challenge []byte) ([]byte, error) {
	return c.do("INTERNAL AUTHENTICATE", apdu.Command{INS: cardproto.InsInternalAuth, Data: challenge, Ne: 256})
}
