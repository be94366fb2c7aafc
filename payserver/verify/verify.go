// Package verify holds the payment server's stateless verification rules
// (docs/protocol.md §14.3–§14.5): a registration's attestation chain
// against the configured device roots, and a payment statement against
// the registered scene key, the channel peer and the order binding. Each
// rule fails with its own sentinel (errors.Is), and RuleOf maps every
// refusal — these and the store's — to the wire.Rule the device is told.
//
// The rules that need state (the challenge consumed once and unexpired,
// the counter compare-and-swap, one booking per order) are the store's
// (payserver/store Book); Payment checks the counter and finger against
// the key it was given too, so a stale replay is refused before a
// transaction is opened, but the store's check is the one that counts.
package verify

import (
	"crypto/ecdsa"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/wire"
)

// Sentinel errors, one per rule.
var (
	// ErrSignature: a certificate of the chain, or the statement, does not
	// verify or does not chain (proof.VerifyChain / proof.VerifyStatement:
	// SM2 per GB/T 32918.2 with SM3 and the GM/T 0009 default identifier).
	ErrSignature = errors.New("verify: signature or chain does not verify")
	// ErrNotAttested: the chain's device key is not one of the device
	// roots (SOTER: the vendor uploads each device's ATTK public key at
	// the factory; a key the server never saw attests nothing).
	ErrNotAttested = errors.New("verify: device key not attested by a device root")
	// ErrIdentity: the chain or statement names another device than the
	// authenticated channel peer (the device id in the TA-filled
	// application message and the channel certificate's subject).
	ErrIdentity = errors.New("verify: device differs from the channel peer")
	// ErrFingers: the finger list does not hash to the scene certificate's
	// FingerBinding (proof.FingerBinding).
	ErrFingers = errors.New("verify: finger list does not match the scene key's binding")
	// ErrKeyRevoked: the scene key was revoked.
	ErrKeyRevoked = errors.New("verify: scene key revoked")
	// ErrPayload: the statement's payload hash is not SM3 of the order
	// binding (wire.Binding) of the order and challenge announced.
	ErrPayload = errors.New("verify: payload hash is not the order binding's")
	// ErrCounter: the counter is not strictly greater than the key's last
	// booked one (SOTER counter rule; WebAuthn §6.1.1 signCount).
	ErrCounter = errors.New("verify: counter not increasing")
	// ErrFingerNotBound: the matched finger is not one the key is bound to.
	ErrFingerNotBound = errors.New("verify: finger not bound to the scene key")
)

// Roots is the set of device attestation keys the server trusts.
type Roots struct{ keys map[proof.PublicKey]bool }

// MaxRoots bounds a roots file.
const MaxRoots = 1 << 20

// NewRoots returns Roots holding keys.
func NewRoots(keys ...proof.PublicKey) *Roots {
	r := &Roots{keys: make(map[proof.PublicKey]bool, len(keys))}
	for _, k := range keys {
		r.keys[k] = true
	}
	return r
}

// Len is the number of keys.
func (r *Roots) Len() int { return len(r.keys) }

// Contains reports whether k is a root.
func (r *Roots) Contains(k proof.PublicKey) bool { return r != nil && r.keys[k] }

// ParseRoots reads PEM "PUBLIC KEY" blocks (SubjectPublicKeyInfo of an SM2
// key, what proof.PublicKey.PEM writes). Anything else — another block
// type, a non-SM2 key, text outside blocks — is refused.
func ParseRoots(b []byte) (*Roots, error) {
	r := NewRoots()
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("verify: device roots: %q block, want PUBLIC KEY", blk.Type)
		}
		pub, err := smx509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("verify: device roots: %v", err)
		}
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != sm2.P256() {
			return nil, fmt.Errorf("verify: device roots: not an SM2 key")
		}
		if len(r.keys) >= MaxRoots {
			return nil, fmt.Errorf("verify: device roots: more than %d keys", MaxRoots)
		}
		r.keys[proof.PublicKeyOf(k)] = true
	}
	if len(trimSpace(rest)) != 0 {
		return nil, fmt.Errorf("verify: device roots: trailing data that is not PEM")
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("verify: device roots: no PUBLIC KEY block")
	}
	return r, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// Registration checks a Register message from the channel peer peer, in
// this order: the chain verifies (ErrSignature), its device key is a root
// (ErrNotAttested), it is the peer's (ErrIdentity), and the finger list
// hashes to the scene key's binding (ErrFingers). It returns what the
// store registers.
func Registration(m wire.Register, roots *Roots, peer proof.DeviceID) (store.Device, store.Key, error) {
	dev, app, scene, err := proof.VerifyChain(m.Device, m.App, m.Scene)
	if err != nil {
		return store.Device{}, store.Key{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if !roots.Contains(dev.PublicKey) {
		return store.Device{}, store.Key{}, fmt.Errorf("%w: device %x", ErrNotAttested, dev.DeviceID[:])
	}
	if dev.DeviceID != peer {
		return store.Device{}, store.Key{}, fmt.Errorf("%w: chain of device %x on the channel of %x", ErrIdentity, dev.DeviceID[:], peer[:])
	}
	if proof.FingerBinding(scene.GroupID, scene.AuthenticatorID, m.FingerIDs) != scene.FingerBinding {
		return store.Device{}, store.Key{}, ErrFingers
	}
	_ = app
	d := store.Device{ID: dev.DeviceID, PublicKey: dev.PublicKey, Cert: m.Device}
	k := store.Key{
		Ref:       store.KeyRef{Device: scene.DeviceID, App: scene.AppID, Scene: scene.Scene},
		PublicKey: scene.PublicKey, Serial: scene.Serial, GroupID: scene.GroupID,
		AuthenticatorID: scene.AuthenticatorID, FingerBinding: scene.FingerBinding,
		FingerIDs: append([]uint32(nil), m.FingerIDs...), AppCert: m.App, SceneCert: m.Scene,
	}
	return d, k, nil
}

// Statement checks a signed statement against key (the registered scene
// key of the statement's (device, app, scene) — the caller looks it up by
// PeekRef), the channel peer and the order summary sum (the order and the
// server challenge the PayIntent announced), in this order: key not
// revoked (ErrKeyRevoked), signature and names (ErrSignature), device is
// the peer (ErrIdentity), payload hash = SM3(wire.Binding(sum))
// (ErrPayload). The counter and the finger are left to the store's Book,
// which checks them in its transaction and returns the first result of a
// retried statement (whose counter is no longer above the key's).
// requestID and the statement's hash go into the returned Booking.
func Statement(signed []byte, key store.Key, peer proof.DeviceID, sum wire.Summary, requestID []byte) (store.Booking, proof.Statement, error) {
	if key.Revoked {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %s", ErrKeyRevoked, key.Ref)
	}
	cert := proof.Cert{Kind: proof.KindScene, DeviceID: key.Ref.Device, PublicKey: key.PublicKey, AppID: key.Ref.App, Scene: key.Ref.Scene}
	st, err := proof.VerifyStatement(signed, cert)
	if err != nil {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if st.DeviceID != peer {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: statement of device %x", ErrIdentity, st.DeviceID[:])
	}
	sum.Device = peer
	payload, err := wire.Binding(sum)
	if err != nil {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if st.PayloadHash != proof.PayloadHash(payload) {
		return store.Booking{}, proof.Statement{}, ErrPayload
	}
	return store.Booking{
		RequestID: append([]byte(nil), requestID...), StatementHash: proof.PayloadHash(signed),
		Key: key.Ref, Counter: st.Counter, Challenge: sum.Challenge, FingerID: st.FingerID,
		OrderID: sum.OrderID, Amount: sum.Amount, Currency: sum.Currency, Payee: sum.Payee,
	}, st, nil
}

// Payment is Statement and then the rules Book enforces with state,
// checked against key as given: counter > key.Counter (ErrCounter) and
// the finger in the key's list (ErrFingerNotBound). It is every rule a
// statement can fail without a transaction (what BenchmarkVerifyStatement
// measures).
func Payment(signed []byte, key store.Key, peer proof.DeviceID, sum wire.Summary, requestID []byte) (store.Booking, proof.Statement, error) {
	b, st, err := Statement(signed, key, peer, sum, requestID)
	if err != nil {
		return store.Booking{}, proof.Statement{}, err
	}
	if st.Counter <= key.Counter {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: counter %d, last %d", ErrCounter, st.Counter, key.Counter)
	}
	bound := false
	for _, f := range key.FingerIDs {
		bound = bound || f == st.FingerID
	}
	if !bound {
		return store.Booking{}, proof.Statement{}, fmt.Errorf("%w: finger %d", ErrFingerNotBound, st.FingerID)
	}
	return b, st, nil
}

// PeekRef returns the key reference a signed statement names, without
// checking its signature (that is Payment's job, once the key is found).
func PeekRef(signed []byte) (store.KeyRef, error) {
	s, err := proof.ParseSigned(signed)
	if err != nil {
		return store.KeyRef{}, err
	}
	st, err := proof.ParseStatement(s.Body)
	if err != nil {
		return store.KeyRef{}, err
	}
	return store.KeyRef{Device: st.DeviceID, App: st.AppID, Scene: st.Scene}, nil
}

// RuleOf maps a refusal to the rule the device is told: the sentinels of
// this package, of payserver/store, of bio/payment/proof and of
// payserver/wire. Anything else is RuleUnavailable (the server could not
// decide; the device may retry with the same request id).
func RuleOf(err error) wire.Rule {
	for _, m := range ruleMap {
		if errors.Is(err, m.err) {
			return m.rule
		}
	}
	if err == nil {
		return wire.RuleOK
	}
	return wire.RuleUnavailable
}

var ruleMap = []struct {
	err  error
	rule wire.Rule
}{
	{ErrSignature, wire.RuleSignature}, {ErrNotAttested, wire.RuleNotAttested}, {ErrIdentity, wire.RuleIdentity},
	{ErrFingers, wire.RuleFingers}, {ErrKeyRevoked, wire.RuleKeyRevoked}, {ErrPayload, wire.RulePayload},
	{ErrCounter, wire.RuleCounter}, {ErrFingerNotBound, wire.RuleFingerNotBound},
	{store.ErrDeviceUnknown, wire.RuleDeviceUnknown}, {store.ErrDeviceRevoked, wire.RuleDeviceRevoked},
	{store.ErrDeviceConflict, wire.RuleDeviceConflict}, {store.ErrKeyUnknown, wire.RuleKeyUnknown},
	{store.ErrKeyRevoked, wire.RuleKeyRevoked}, {store.ErrKeyStale, wire.RuleKeyStale},
	{store.ErrOrderUnknown, wire.RuleOrderUnknown}, {store.ErrOrderPaid, wire.RuleOrderPaid},
	{store.ErrTooManyAttempts, wire.RuleTooManyAttempts}, {store.ErrChallengeUnknown, wire.RuleChallengeUnknown},
	{store.ErrChallengeExpired, wire.RuleChallengeExpired}, {store.ErrChallengeUsed, wire.RuleChallengeUsed},
	{store.ErrChallengeMismatch, wire.RuleChallengeBinding}, {store.ErrCounter, wire.RuleCounter},
	{store.ErrFingerNotBound, wire.RuleFingerNotBound}, {store.ErrRequestConflict, wire.RuleRequestConflict},
	{store.ErrInvalid, wire.RuleMalformed}, {wire.ErrMalformed, wire.RuleMalformed},
	{proof.ErrMalformed, wire.RuleMalformed}, {proof.ErrSignature, wire.RuleSignature}, {proof.ErrChain, wire.RuleSignature},
	{policy.ErrMissingFactors, wire.RuleFactors}, {policy.ErrUnknownTier, wire.RulePolicy},
	{policy.ErrUnknownCurrency, wire.RulePolicy}, {otp.ErrReplay, wire.RuleOTPReplay}, {store.ErrOTPReplay, wire.RuleOTPReplay},
	{otp.ErrMismatch, wire.RuleOTP}, {otp.ErrMalformed, wire.RuleOTP}, {store.ErrOTPUnknown, wire.RuleOTP},
	{otp.ErrSealed, wire.RuleUnavailable},
}

// ErrSummarySignature: an order summary whose signature does not verify
// under the server's signing certificate (SM2, SM3, default identifier).
var ErrSummarySignature = errors.New("verify: order summary not signed by the server")

// ErrFeedbackSignature: a SignedFeedback whose signature does not verify
// under the server's signing certificate.
var ErrFeedbackSignature = errors.New("verify: feedback not signed by the server")

// FeedbackSignature checks the server's signature on a SignedFeedback
// (SM2 with SM3 and the default identifier over
// wire.SignedFeedback.SignedBytes): what a payment app does before it
// trusts the decision and the booking it reports.
func FeedbackSignature(f wire.SignedFeedback, serverSign *smx509.Certificate) error {
	msg, err := f.SignedBytes()
	if err != nil {
		return err
	}
	pub, ok := serverSign.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.VerifyASN1WithSM2(pub, nil, msg, f.Signature) {
		return ErrFeedbackSignature
	}
	return nil
}

// SummarySignature checks the server's signature on a Challenge's order
// summary: what a payment app does before it shows the summary (the
// anti-phishing step of seed 003: the user sees who asks).
func SummarySignature(c wire.Challenge, serverSign *smx509.Certificate) error {
	pub, ok := serverSign.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.VerifyASN1WithSM2(pub, nil, c.Summary, c.Signature) {
		return ErrSummarySignature
	}
	return nil
}
