package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
)

// Defaults and bounds. Each bound keeps a table, or what one untrusted
// caller can make the store hold, finite.
const (
	// DefaultChallengeTTL is how long an issued challenge can be booked
	// (issue 11: "expiring, default 2 min"; App Attest suggests 30–60 s).
	DefaultChallengeTTL = 2 * time.Minute
	// DefaultReplayWindow is how long a booked request id is remembered
	// (and how long a consumed challenge is kept past its expiry). It is
	// at least the challenge TTL: a replay inside the window gets the
	// first result, a replay after it finds no challenge and is refused.
	DefaultReplayWindow = 10 * time.Minute
	// DefaultMaxAttempts bounds the challenges one order can be issued,
	// so a device cannot make the store hold unbounded challenge rows for
	// one order.
	DefaultMaxAttempts = 8
	// MaxRequestIDLen bounds a request id (bytes).
	MaxRequestIDLen = 64
	// MaxIdempotencyKeyLen bounds a merchant's Idempotency-Key (bytes).
	MaxIdempotencyKeyLen = 255
	// MaxPayeeLen and MaxSummaryLen bound an order's text fields (bytes).
	MaxPayeeLen   = 128
	MaxSummaryLen = 512
	// MaxFingers bounds a scene key's finger list (AOSP enrolls at most
	// 5 fingers per user; the margin allows vendor HALs that allow more).
	MaxFingers = 32
	// MaxLedgerPage bounds the rows one Ledger call returns.
	MaxLedgerPage = 1000
	// MaxCertLen bounds a stored signed certificate (proof.MaxSignedSize).
	MaxCertLen = proof.MaxSignedSize
)

// Sentinel errors. Every error a Store returns for a refused request
// wraps exactly one of them.
var (
	// ErrInvalid: a malformed argument (empty, over a bound, a finger list
	// that does not hash to the key's binding, a device id not derived
	// from its key).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrSchemaTooNew: the database was migrated by a newer fpemu.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this build")
	// ErrDeviceUnknown: no device with that id is registered.
	ErrDeviceUnknown = errors.New("store: device not registered")
	// ErrDeviceConflict: the device id is registered with another key.
	ErrDeviceConflict = errors.New("store: device registered with another key")
	// ErrDeviceRevoked: the device was revoked.
	ErrDeviceRevoked = errors.New("store: device revoked")
	// ErrKeyUnknown: no scene key for that (device, app, scene).
	ErrKeyUnknown = errors.New("store: scene key not registered")
	// ErrKeyRevoked: the scene key was revoked.
	ErrKeyRevoked = errors.New("store: scene key revoked")
	// ErrKeyStale: a registration whose certificate serial is not above
	// the registered key's (a rolled-back or replayed registration).
	ErrKeyStale = errors.New("store: scene key registration older than the registered key")
	// ErrOrderUnknown: no order with that id.
	ErrOrderUnknown = errors.New("store: order not found")
	// ErrOrderPaid: the order is already booked.
	ErrOrderPaid = errors.New("store: order already paid")
	// ErrIdempotencyConflict: an Idempotency-Key reused with other order
	// parameters (the first order stands).
	ErrIdempotencyConflict = errors.New("store: idempotency key reused with other parameters")
	// ErrTooManyAttempts: the order was issued MaxAttempts challenges.
	ErrTooManyAttempts = errors.New("store: too many challenges for this order")
	// ErrChallengeUnknown: no such challenge (never issued, or pruned
	// after its expiry and the replay window).
	ErrChallengeUnknown = errors.New("store: challenge unknown")
	// ErrChallengeExpired: the challenge's lifetime is over.
	ErrChallengeExpired = errors.New("store: challenge expired")
	// ErrChallengeUsed: the challenge was consumed by another statement.
	ErrChallengeUsed = errors.New("store: challenge already used")
	// ErrChallengeMismatch: the challenge is bound to another order,
	// device, amount, currency or payee.
	ErrChallengeMismatch = errors.New("store: challenge bound to another order, device or amount")
	// ErrCounter: the statement's counter is not strictly greater than
	// the last one booked for the key (SOTER counter rule; App Attest).
	ErrCounter = errors.New("store: signature counter not increasing")
	// ErrFingerNotBound: the statement's finger is not one the scene key
	// was bound to.
	ErrFingerNotBound = errors.New("store: finger not bound to the scene key")
	// ErrRequestConflict: a request id reused for another statement.
	ErrRequestConflict = errors.New("store: request id reused for another statement")
	// ErrOTPUnknown: no OTP seed for that (device, app).
	ErrOTPUnknown = errors.New("store: OTP seed not registered")
	// ErrOTPReplay: the OTP time step is not greater than the last
	// accepted one (RFC 6238 §5.2: a code is accepted at most once).
	ErrOTPReplay = errors.New("store: OTP step not after the last accepted one")
	// ErrTierUnset: no customer tier recorded for the device.
	ErrTierUnset = errors.New("store: no customer tier recorded")
)

// MaxSealedSeedLen bounds a stored sealed OTP seed (bytes; payserver/otp
// seals at most 92).
const MaxSealedSeedLen = 128

// MaxOTPStep bounds an OTP time step: steps are compared in SQL, so they
// must stay below 2^63 (a step of one second reaches that in 2.9e11
// years).
const MaxOTPStep = 1<<63 - 1

// OTPRef names an OTP seed: one per (device, app).
type OTPRef struct {
	Device proof.DeviceID
	App    string
}

func (r OTPRef) String() string { return fmt.Sprintf("%x/%s", r.Device[:], r.App) }

// OTPSeed is a registered one-time-code seed (payserver/otp). The store
// keeps the seed sealed and never opens it: Sealed is opaque here.
type OTPSeed struct {
	Ref           OTPRef
	Algorithm     string // payserver/otp.Algorithm, 1..32 bytes
	Digits        int    // 6..8
	PeriodSeconds int    // 1..60
	Epoch         int64  // T0, Unix seconds, ≥ 0
	Sealed        []byte // 1..MaxSealedSeedLen bytes
	// LastStep is the last accepted time step when HasLastStep; set by
	// the store (AcceptOTPStep), ignored by PutOTPSeed.
	LastStep    uint64
	HasLastStep bool
	Created     time.Time
}

// KeyRef names a scene key: what it is bound to.
type KeyRef struct {
	Device proof.DeviceID
	App    string
	Scene  string
}

func (r KeyRef) String() string { return fmt.Sprintf("%x/%s/%s", r.Device[:], r.App, r.Scene) }

// Device is a registered device: its attestation key and the self-signed
// device certificate that carried it.
type Device struct {
	ID        proof.DeviceID
	PublicKey proof.PublicKey
	Cert      []byte    // signed device certificate (proof), as presented
	Created   time.Time // set by the store
	Revoked   bool      // set by RevokeDevice
}

// Key is a registered scene key.
type Key struct {
	Ref             KeyRef
	PublicKey       proof.PublicKey
	Serial          uint64 // the scene certificate's serial
	GroupID         uint32
	AuthenticatorID uint64
	FingerBinding   [proof.BindingSize]byte
	// FingerIDs are the fingers the binding commits to, strictly
	// increasing: proof.FingerBinding(GroupID, AuthenticatorID, FingerIDs)
	// must equal FingerBinding.
	FingerIDs []uint32
	AppCert   []byte // signed app certificate, as presented
	SceneCert []byte // signed scene certificate, as presented
	// Counter is the highest statement counter booked with this key (or
	// Serial when none was): a statement must carry a greater one.
	Counter uint64
	Created time.Time
	Revoked bool
}

// NewOrder is what a merchant asks for.
type NewOrder struct {
	IdempotencyKey string // scoped to Payee; 1..MaxIdempotencyKeyLen bytes
	Payee          string // merchant id, 1..MaxPayeeLen bytes
	Amount         int64  // minor units, > 0
	Currency       string // ISO 4217 alphabetic code, three upper-case letters
	Summary        string // what the device shows the user, ≤ MaxSummaryLen bytes
}

// OrderStatus is an order's state.
type OrderStatus string

// Order states.
const (
	OrderOpen OrderStatus = "open"
	OrderPaid OrderStatus = "paid"
)

// Order is a merchant order.
type Order struct {
	ID string // 32 lower-case hex digits, random
	NewOrder
	Status   OrderStatus
	Attempts int   // challenges issued so far
	EntryID  int64 // the ledger row once paid, else 0
	Created  time.Time
}

// Challenge is an issued challenge and what it is bound to.
type Challenge struct {
	Value    uint64 // random, non-zero: the statement's challenge
	OrderID  string
	Attempt  int // 1, 2, … per order
	Device   proof.DeviceID
	Amount   int64
	Currency string
	Payee    string
	Issued   time.Time
	Expires  time.Time
}

// Booking is a verified payment statement, as the verifier hands it to
// Book: the statement's fields (proof.Statement) and what it was checked
// against.
type Booking struct {
	// RequestID identifies the device's request (1..MaxRequestIDLen
	// bytes, e.g. the channel record's id): a retry carries the same one.
	RequestID []byte
	// StatementHash is SM3 of the signed statement bytes: two requests
	// with the same hash carry the same statement.
	StatementHash [proof.HashSize]byte
	Key           KeyRef // the scene key that signed (statement's device, app, scene)
	Counter       uint64
	Challenge     uint64
	FingerID      uint32
	// OrderID, Amount, Currency and Payee are the order the statement's
	// payload hash was checked against; they must be the challenge's.
	OrderID  string
	Amount   int64
	Currency string
	Payee    string
	// Decision is the n-factor decision the payment was booked under
	// (docs/protocol.md §16.4), kept in its ledger row so that a replay
	// answers with it; zero for a payment under no policy.
	Decision Decision
}

// Decision is the n-factor decision of a booking: the customer tier
// (CheckTier, or empty), the factors the policy required and those the
// payment satisfied (each within policy.All).
type Decision struct {
	Tier      string
	Required  policy.Set
	Satisfied policy.Set
}

// Receipt is a booked payment: a ledger row.
type Receipt struct {
	EntryID       int64
	OrderID       string
	Challenge     uint64
	Key           KeyRef
	Counter       uint64
	FingerID      uint32
	Amount        int64
	Currency      string
	Payee         string
	StatementHash [proof.HashSize]byte
	RequestID     []byte
	Booked        time.Time
	Decision      Decision // as booked (Booking.Decision)
	// Replayed is set when this call booked nothing and returns the
	// first booking of the same statement.
	Replayed bool
}

// Pruned counts what Prune deleted.
type Pruned struct {
	Challenges int64
	Requests   int64
}

// Store is the payment server's state. All methods are safe for
// concurrent use, from several goroutines and (on a shared database)
// several processes.
type Store interface {
	// RegisterDevice registers a device's attestation key. Registering
	// the same key again is a no-op; another key for the same id is
	// ErrDeviceConflict; a revoked device stays revoked (ErrDeviceRevoked).
	RegisterDevice(ctx context.Context, d Device) error
	// RevokeDevice revokes a device: its keys book nothing any more.
	RevokeDevice(ctx context.Context, id proof.DeviceID) error
	// Device returns a registered device.
	Device(ctx context.Context, id proof.DeviceID) (Device, error)
	// RegisterKey registers or replaces a scene key of a registered,
	// unrevoked device. A replacement must have a greater Serial
	// (ErrKeyStale) and keeps the counter high-water mark; a revoked key
	// stays revoked (ErrKeyRevoked).
	RegisterKey(ctx context.Context, k Key) error
	// RevokeKey revokes a scene key.
	RevokeKey(ctx context.Context, ref KeyRef) error
	// Key returns a registered scene key.
	Key(ctx context.Context, ref KeyRef) (Key, error)
	// CreateOrder creates an order, or returns the order first created
	// under the same (Payee, IdempotencyKey) with created false; other
	// parameters under a used key are ErrIdempotencyConflict.
	CreateOrder(ctx context.Context, o NewOrder) (ord Order, created bool, err error)
	// Order returns an order.
	Order(ctx context.Context, id string) (Order, error)
	// IssueChallenge issues the next challenge of an open order for a
	// registered, unrevoked device.
	IssueChallenge(ctx context.Context, orderID string, device proof.DeviceID) (Challenge, error)
	// Book books a verified statement in one transaction (see package
	// doc), or returns the first Receipt of the same request or statement.
	Book(ctx context.Context, b Booking) (Receipt, error)
	// Ledger returns up to limit (≤ MaxLedgerPage) ledger rows with
	// EntryID > after, in EntryID order.
	Ledger(ctx context.Context, after int64, limit int) ([]Receipt, error)
	// Prune deletes challenges past their expiry plus ReplayWindow and
	// request ids older than ReplayWindow.
	Prune(ctx context.Context) (Pruned, error)
	// PutOTPSeed registers the OTP seed of (device, app) for a
	// registered, unrevoked device, or replaces it (a device re-seeding
	// at re-registration). A replacement keeps the last accepted step:
	// steps are time, and a new seed must not reopen an old window.
	PutOTPSeed(ctx context.Context, s OTPSeed) error
	// OTPSeed returns a registered OTP seed (ErrOTPUnknown).
	OTPSeed(ctx context.Context, ref OTPRef) (OTPSeed, error)
	// AcceptOTPStep records step (≤ MaxOTPStep) as the last accepted one
	// of ref's seed by compare-and-swap, in one transaction: a step not
	// greater than the stored one is ErrOTPReplay, so of N concurrent
	// calls with one step exactly one succeeds. The device must be
	// registered and unrevoked.
	AcceptOTPStep(ctx context.Context, ref OTPRef, step uint64) error
	// SetTier records the customer tier of a registered, unrevoked
	// device (docs/protocol.md §16.4; migration 3), replacing any earlier
	// one. The tier must be a policy tier name (CheckTier).
	SetTier(ctx context.Context, device proof.DeviceID, tier string) error
	// Tier returns the tier SetTier recorded (ErrTierUnset when none).
	Tier(ctx context.Context, device proof.DeviceID) (string, error)
	// Close releases the database.
	Close() error
}

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// Now is the store's clock (default time.Now); tests drive it.
	Now func() time.Time
	// ChallengeTTL is a challenge's lifetime (default DefaultChallengeTTL).
	ChallengeTTL time.Duration
	// ReplayWindow (default DefaultReplayWindow) must be ≥ ChallengeTTL.
	ReplayWindow time.Duration
	// MaxAttempts per order (default DefaultMaxAttempts).
	MaxAttempts int
	// Logger receives one line per migration and booking (no keys, no
	// statements); default zap.NewNop. The store adds component=store.
	Logger *zap.Logger
}

// WithDefaults returns o with every zero field set to its default, or
// ErrInvalid for a negative or inconsistent value.
func (o Options) WithDefaults() (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ChallengeTTL == 0 {
		o.ChallengeTTL = DefaultChallengeTTL
	}
	if o.ReplayWindow == 0 {
		o.ReplayWindow = max(DefaultReplayWindow, o.ChallengeTTL)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	switch {
	case o.ChallengeTTL < time.Millisecond:
		return o, fmt.Errorf("%w: challenge TTL %v", ErrInvalid, o.ChallengeTTL)
	case o.ReplayWindow < o.ChallengeTTL:
		return o, fmt.Errorf("%w: replay window %v shorter than the challenge TTL %v", ErrInvalid, o.ReplayWindow, o.ChallengeTTL)
	case o.MaxAttempts < 1:
		return o, fmt.Errorf("%w: max attempts %d", ErrInvalid, o.MaxAttempts)
	}
	return o, nil
}

// MaxTierLen bounds a tier name (payserver/policy's tier syntax).
const MaxTierLen = 32

// CheckTier checks a tier name: [a-z][a-z0-9_-]{0,31}, the policy file's
// TIER (docs/protocol.md §16.1). Anything else is ErrInvalid.
func CheckTier(tier string) error {
	if len(tier) == 0 || len(tier) > MaxTierLen || tier[0] < 'a' || tier[0] > 'z' {
		return fmt.Errorf("%w: tier %q", ErrInvalid, tier)
	}
	for _, c := range []byte(tier) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return fmt.Errorf("%w: tier %q", ErrInvalid, tier)
		}
	}
	return nil
}
