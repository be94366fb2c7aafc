package store

import (
	"context"
	"errors"
	"time"

	"github.com/fpemu/fpemu/bio/payment/proof"
)

// The shield flows' state (docs/protocol.md §12 table shield_*, §15.6):
// login randoms, the card certificate each device logged in with, and
// pre-submits with their single-use nonces. Both SQL backends implement
// ShieldStore; a Store that does not is refused by the shield endpoints.

// Bounds of the shield tables: what one untrusted caller can make the
// store hold.
const (
	// MaxShieldLoginsPerDevice bounds the unexpired, unused login
	// randoms one device can hold; expired ones are deleted when a new
	// one is issued.
	MaxShieldLoginsPerDevice = 8
	// MaxPreSubmitsPerOrder bounds the pre-submits one order can be
	// issued (as DefaultMaxAttempts bounds its challenges).
	MaxPreSubmitsPerOrder = 8
	// MaxShieldCertLen bounds a stored card certificate (DER).
	MaxShieldCertLen = 4096
	// MaxShieldBlob bounds a stored pre-submit, random, nonce or signature.
	MaxShieldBlob = 2048
)

// Sentinel errors of ShieldStore (each refused call wraps one).
var (
	// ErrShieldUnknown: no such login random or pre-submit.
	ErrShieldUnknown = errors.New("store: shield login or pre-submit unknown")
	// ErrShieldExpired: its lifetime is over.
	ErrShieldExpired = errors.New("store: shield login or pre-submit expired")
	// ErrShieldUsed: the login random or the pre-submit's nonce was
	// already consumed (single use).
	ErrShieldUsed = errors.New("store: shield login random or nonce already used")
	// ErrShieldLimit: too many outstanding logins for the device, or
	// pre-submits for the order.
	ErrShieldLimit = errors.New("store: too many shield logins or pre-submits")
	// ErrShieldNoCard: the device has not logged in with a shield card.
	ErrShieldNoCard = errors.New("store: no shield card logged in for the device")
	// ErrShieldNotConfirmed: the pre-submit exists but no card confirmed it.
	ErrShieldNotConfirmed = errors.New("store: pre-submit not confirmed by a shield")
	// ErrShieldMismatch: the pre-submit is for another order or device,
	// or the nonce presented is not its nonce.
	ErrShieldMismatch = errors.New("store: pre-submit bound to another order, device or nonce")
)

// ShieldCard is the card certificate a device last logged in with.
type ShieldCard struct {
	Device   proof.DeviceID
	Cert     []byte // DER, the CA-issued card certificate
	LoggedIn time.Time
}

// PreSubmit is a pre-submit as stored.
type PreSubmit struct {
	ID       string // 32 lower-case hex
	OrderID  string
	Device   proof.DeviceID
	Body     []byte // shieldmsg.PreSubmit encoding
	Nonce    []byte // single-use
	CardCert []byte // the device's card certificate when it was issued
	Issued   time.Time
	Expires  time.Time
	// Confirmed is set once a card's signature over (Body, Nonce) was
	// verified and the nonce consumed; CardSig is that signature.
	Confirmed    time.Time
	HasConfirmed bool
	CardSig      []byte
}

// ShieldStore is the shield flows' part of the store.
type ShieldStore interface {
	// IssueShieldLogin records a fresh login random for device, valid
	// until expires (ErrShieldLimit past MaxShieldLoginsPerDevice).
	IssueShieldLogin(ctx context.Context, device proof.DeviceID, random []byte, expires time.Time) error
	// ConsumeShieldLogin uses a login random once, in one conditional
	// UPDATE, and returns its device (ErrShieldUnknown, ErrShieldExpired,
	// ErrShieldUsed).
	ConsumeShieldLogin(ctx context.Context, random []byte) (proof.DeviceID, error)
	// PutShieldCard records the card certificate device logged in with.
	PutShieldCard(ctx context.Context, device proof.DeviceID, cert []byte) error
	// ShieldCard returns it (ErrShieldNoCard).
	ShieldCard(ctx context.Context, device proof.DeviceID) (ShieldCard, error)
	// CreatePreSubmit stores a new pre-submit for an open order
	// (ErrOrderUnknown, ErrOrderPaid, ErrShieldLimit).
	CreatePreSubmit(ctx context.Context, p PreSubmit) error
	// PreSubmit returns one (ErrShieldUnknown).
	PreSubmit(ctx context.Context, id string) (PreSubmit, error)
	// ConfirmPreSubmit consumes the pre-submit's nonce and records the
	// card's signature in one conditional UPDATE: exactly one of any
	// number of concurrent confirmations succeeds (ErrShieldUnknown,
	// ErrShieldMismatch for another nonce, ErrShieldExpired,
	// ErrShieldUsed). The caller verifies the signature first.
	ConfirmPreSubmit(ctx context.Context, id string, nonce, cardSig []byte) (PreSubmit, error)
}
