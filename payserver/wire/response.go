package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/internal/cursor"
	"github.com/fpemu/fpemu/payserver/policy"
)

// Rule names the rule a refusal broke (docs/protocol.md §14.5). The
// numbers are fpemu's and never reused.
type Rule uint16

// Rules. RuleOK is an accepted request.
const (
	RuleOK               Rule = 0
	RuleMalformed        Rule = 1  // a message or statement that does not parse, or out of order
	RuleSignature        Rule = 2  // a certificate or statement signature does not verify / chain
	RuleNotAttested      Rule = 3  // the device key is not one of the configured device roots
	RuleIdentity         Rule = 4  // the statement or chain names another device than the channel peer
	RuleDeviceUnknown    Rule = 5  // the device is not registered
	RuleDeviceRevoked    Rule = 6  // the device is revoked
	RuleDeviceConflict   Rule = 7  // the device id is registered with another key
	RuleKeyUnknown       Rule = 8  // no scene key for (device, app, scene)
	RuleKeyRevoked       Rule = 9  // the scene key is revoked
	RuleKeyStale         Rule = 10 // a registration older than the registered key
	RuleFingers          Rule = 11 // the finger list does not hash to the scene key's binding
	RuleOrderUnknown     Rule = 12 // no such order
	RuleOrderPaid        Rule = 13 // the order is already paid
	RuleTooManyAttempts  Rule = 14 // the order was issued its last challenge
	RuleChallengeUnknown Rule = 15 // no such challenge
	RuleChallengeExpired Rule = 16 // the challenge expired
	RuleChallengeUsed    Rule = 17 // the challenge was consumed by another statement
	RuleChallengeBinding Rule = 18 // the challenge is bound to another order, device or amount
	RulePayload          Rule = 19 // the statement's payload hash is not the order binding's
	RuleCounter          Rule = 20 // the counter is not above the key's last one
	RuleFingerNotBound   Rule = 21 // the matched finger is not one the key is bound to
	RuleRequestConflict  Rule = 22 // a request id reused for another statement
	RuleNotYours         Rule = 23 // a status request for an order another device paid or that is open
	RuleUnavailable      Rule = 24 // the server could not decide (storage down): retry
	RuleFactors          Rule = 25 // the payment lacks a factor the policy requires (§16.4)
	RuleOTP              Rule = 26 // the one-time code is wrong, malformed, or no seed is enrolled
	RuleOTPReplay        Rule = 27 // the one-time code was accepted before (or an older one)
	RulePolicy           Rule = 28 // the policy names no rule for the customer's tier and currency
)

var ruleNames = map[Rule]string{
	RuleOK: "ok", RuleMalformed: "malformed", RuleSignature: "signature", RuleNotAttested: "not-attested",
	RuleIdentity: "identity", RuleDeviceUnknown: "device-unknown", RuleDeviceRevoked: "device-revoked",
	RuleDeviceConflict: "device-conflict", RuleKeyUnknown: "key-unknown", RuleKeyRevoked: "key-revoked",
	RuleKeyStale: "key-stale", RuleFingers: "fingers", RuleOrderUnknown: "order-unknown", RuleOrderPaid: "order-paid",
	RuleTooManyAttempts: "too-many-attempts", RuleChallengeUnknown: "challenge-unknown",
	RuleChallengeExpired: "challenge-expired", RuleChallengeUsed: "challenge-used",
	RuleChallengeBinding: "challenge-binding", RulePayload: "payload", RuleCounter: "counter",
	RuleFingerNotBound: "finger-not-bound", RuleRequestConflict: "request-conflict", RuleNotYours: "not-yours",
	RuleUnavailable: "unavailable", RuleFactors: "factors", RuleOTP: "otp", RuleOTPReplay: "otp-replay",
	RulePolicy: "policy",
}

// String names r as docs/protocol.md §14.5 does.
func (r Rule) String() string {
	if n, ok := ruleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("rule-%d", uint16(r))
}

// Known reports whether r is a rule of this version.
func (r Rule) Known() bool { _, ok := ruleNames[r]; return ok }

// --- Result ---------------------------------------------------------------

// Result answers a Register (and any request refused before it could be
// answered in kind): hdr ‖ u16 rule ‖ u16 len ‖ detail (UTF-8, ≤ MaxDetailLen).
type Result struct {
	Rule   Rule
	Detail string
}

// Marshal returns the canonical bytes of m.
func (m Result) Marshal() ([]byte, error) {
	if !m.Rule.Known() {
		return nil, malformed("unknown rule %d", m.Rule)
	}
	if err := checkText("detail", m.Detail, 0, MaxDetailLen); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16(header(TypeResult), uint16(m.Rule))
	return put16(b, []byte(m.Detail)), nil
}

// ParseResult decodes a Result strictly.
func ParseResult(b []byte) (Result, error) {
	var r reader
	r.open(b, TypeResult)
	m := Result{Rule: Rule(r.U16()), Detail: string(r.bytes16(0, MaxDetailLen))}
	if !r.Done() {
		return Result{}, malformed("result of %d bytes", len(b))
	}
	if _, err := m.Marshal(); err != nil {
		return Result{}, err
	}
	return m, nil
}

// --- Challenge and its signed order summary --------------------------------

// Summary is the order summary the server signs with its channel signing
// key and the device shows the user before the finger touches (the
// anti-phishing step of seed 003: the user sees who asks, for what). It is
// also what the server challenge is bound to.
//
//	u8 version 1 ‖ u64 challenge ‖ u64 expires (Unix ms) ‖ u8 len ‖ order id ‖
//	16 device id ‖ u8 len ‖ payee ‖ i64 amount (minor units) ‖ 3 currency ‖
//	u16 len ‖ summary text
//
// Version 2 (a server with an n-factor policy, docs/protocol.md §16.4)
// starts with 02 and appends what the server asks for, so the device
// shows the user which factors this payment needs:
//
//	… ‖ s8 tier (1..32) ‖ u8 required factors (policy.Set, non-zero)
type Summary struct {
	Challenge uint64
	ExpiresMs int64
	OrderID   string
	Device    proof.DeviceID
	Payee     string
	Amount    int64
	Currency  string
	Text      string
	// Tier and Required are version 2's: the customer tier the server
	// decided on and the factors its policy requires (both zero in
	// version 1).
	Tier     string
	Required policy.Set
}

// SummaryVersion2 is the version byte of a Summary with factors.
const SummaryVersion2 = 2

// MaxTierLen bounds a tier name (policy's syntax).
const MaxTierLen = 32

func (s Summary) check() error {
	switch {
	case s.Challenge == 0:
		return malformed("summary with challenge 0")
	case s.Amount <= 0:
		return malformed("summary with amount %d", s.Amount)
	case s.ExpiresMs <= 0:
		return malformed("summary with expiry %d", s.ExpiresMs)
	}
	if err := checkOrderID(s.OrderID); err != nil {
		return err
	}
	if err := checkText("payee", s.Payee, 1, MaxPayeeLen); err != nil {
		return err
	}
	if err := checkCurrency(s.Currency); err != nil {
		return err
	}
	if (s.Tier == "") != (s.Required == 0) {
		return malformed("summary with tier %q and factors %s: both or neither", s.Tier, s.Required)
	}
	if s.Tier != "" {
		if err := checkFactors(s.Required, false); err != nil {
			return err
		}
		if err := checkTier(s.Tier, 1); err != nil {
			return err
		}
	}
	return checkText("summary", s.Text, 0, MaxSummaryLen)
}

// checkTier: 0 (when minLen is 0) or minLen..MaxTierLen bytes of the
// policy tier syntax [a-z][a-z0-9_-]*.
func checkTier(t string, minLen int) error {
	if len(t) < minLen || len(t) > MaxTierLen {
		return malformed("tier of %d bytes", len(t))
	}
	for i, c := range []byte(t) {
		if (c < 'a' || c > 'z') && (i == 0 || ((c < '0' || c > '9') && c != '_' && c != '-')) {
			return malformed("tier %q", t)
		}
	}
	return nil
}

// checkFactors: only the factors policy knows; zero only if allowed.
func checkFactors(s policy.Set, zeroOK bool) error {
	if s == 0 && !zeroOK {
		return malformed("no factors")
	}
	if s&^policy.All != 0 {
		return malformed("unknown factors %#x", uint8(s))
	}
	return nil
}

// Marshal returns the canonical bytes of s: what the server signs.
func (s Summary) Marshal() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	v := byte(Version)
	if s.Tier != "" {
		v = SummaryVersion2
	}
	b := []byte{v}
	b = binary.BigEndian.AppendUint64(b, s.Challenge)
	b = binary.BigEndian.AppendUint64(b, uint64(s.ExpiresMs))
	b = put8(b, []byte(s.OrderID))
	b = append(b, s.Device[:]...)
	b = put8(b, []byte(s.Payee))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Amount))
	b = append(b, s.Currency...)
	b = put16(b, []byte(s.Text))
	if v == SummaryVersion2 {
		b = append(put8(b, []byte(s.Tier)), byte(s.Required))
	}
	return b, nil
}

// ParseSummary decodes a Summary strictly.
func ParseSummary(b []byte) (Summary, error) {
	r := reader{cursor.New(b)}
	v := r.U8()
	if v != Version && v != SummaryVersion2 {
		r.Fail()
	}
	var s Summary
	s.Challenge = r.U64()
	s.ExpiresMs = int64(r.U64())
	s.OrderID = string(r.bytes8(OrderIDLen, OrderIDLen))
	copy(s.Device[:], r.Take(proof.DeviceIDSize))
	s.Payee = string(r.bytes8(1, MaxPayeeLen))
	s.Amount = int64(r.U64())
	s.Currency = string(r.Take(3))
	s.Text = string(r.bytes16(0, MaxSummaryLen))
	if v == SummaryVersion2 {
		s.Tier = string(r.bytes8(1, MaxTierLen))
		s.Required = policy.Set(r.U8())
		if !r.Bad() && (s.Tier == "" || s.Required == 0) {
			r.Fail()
		}
	}
	if !r.Done() {
		return Summary{}, malformed("summary of %d bytes", len(b))
	}
	if err := s.check(); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// Challenge answers a ChallengeRequest: the order summary's canonical
// bytes and the server's SM2 signature over them (SM3, default
// distinguishing identifier, DER).
//
//	hdr ‖ u16 len ‖ summary ‖ u8 len ‖ signature (8..72)
type Challenge struct {
	Summary   []byte
	Signature []byte
}

// Marshal returns the canonical bytes of m.
func (m Challenge) Marshal() ([]byte, error) {
	if _, err := ParseSummary(m.Summary); err != nil {
		return nil, err
	}
	if len(m.Signature) < 8 || len(m.Signature) > MaxSignatureLen {
		return nil, malformed("signature of %d bytes", len(m.Signature))
	}
	return put8(put16(header(TypeChallenge), m.Summary), m.Signature), nil
}

// ParseChallenge decodes a Challenge strictly (the summary too; the
// signature is the verifier's job).
func ParseChallenge(b []byte) (Challenge, Summary, error) {
	var r reader
	r.open(b, TypeChallenge)
	m := Challenge{Summary: r.bytes16(1, 1024), Signature: r.bytes8(8, MaxSignatureLen)}
	if !r.Done() {
		return Challenge{}, Summary{}, malformed("challenge of %d bytes", len(b))
	}
	s, err := ParseSummary(m.Summary)
	if err != nil {
		return Challenge{}, Summary{}, err
	}
	return m, s, nil
}

// --- Order binding: the payload the TA signs -------------------------------

// Binding returns the payload a payment app passes to SIGN_PAYMENT /
// CHANNEL_SEAL_PAYMENT for the order of s:
//
//	BindingLabel ‖ u64 challenge ‖ u8 len ‖ order id ‖ 16 device id ‖
//	u8 len ‖ payee ‖ i64 amount ‖ 3 currency ‖ u16 len ‖ summary text
//
// The statement's payload_hash is SM3 of it, so the scene key's signature
// covers the server challenge, the order, amount, currency and payee, the
// device and the text the user saw, while the statement's own challenge
// stays the TA's BEGIN_PAYMENT challenge (the fingerprint operation id) —
// docs/protocol.md §14.4. The expiry is not in it: the server enforces it
// from its own record of the challenge.
func Binding(s Summary) ([]byte, error) {
	// The decision is the server's, from its own records: not bound.
	s.Tier, s.Required = "", 0
	if s.ExpiresMs == 0 {
		s.ExpiresMs = 1 // the expiry is not bound; let check pass
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	b := append([]byte(BindingLabel), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(b[len(BindingLabel):], s.Challenge)
	b = put8(b, []byte(s.OrderID))
	b = append(b, s.Device[:]...)
	b = put8(b, []byte(s.Payee))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Amount))
	b = append(b, s.Currency...)
	return put16(b, []byte(s.Text)), nil
}

// BindingLabel separates the order binding from any other payload a scene
// key may sign.
const BindingLabel = "fpemu payment order v1\x00"

// --- Feedback -------------------------------------------------------------

// Feedback answers a payment (the statement after a PayIntent) or a
// StatusRequest: booked (RuleOK) or refused with the rule.
//
//	hdr ‖ u16 rule ‖ u8 replayed (0/1) ‖ u8 len ‖ order id ‖ u8 len ‖ request id (0..64) ‖
//	i64 entry id ‖ u64 counter ‖ 32 statement hash ‖ u16 len ‖ detail
//
// A refusal carries a zero entry id; a booking a non-zero one.
type Feedback struct {
	Rule          Rule
	Replayed      bool
	OrderID       string
	RequestID     []byte
	EntryID       int64
	Counter       uint64
	StatementHash [proof.HashSize]byte
	Detail        string
}

func (m Feedback) check() error {
	if !m.Rule.Known() {
		return malformed("unknown rule %d", m.Rule)
	}
	if (m.Rule == RuleOK) != (m.EntryID > 0) {
		return malformed("feedback %s with entry id %d", m.Rule, m.EntryID)
	}
	if m.Replayed && m.Rule != RuleOK {
		return malformed("a refusal marked replayed")
	}
	if len(m.RequestID) > MaxRequestIDLen {
		return malformed("request id of %d bytes", len(m.RequestID))
	}
	if err := checkOrderID(m.OrderID); err != nil {
		return err
	}
	return checkText("detail", m.Detail, 0, MaxDetailLen)
}

// Marshal returns the canonical bytes of m.
func (m Feedback) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16(header(TypeFeedback), uint16(m.Rule))
	if m.Replayed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = put8(b, []byte(m.OrderID))
	b = put8(b, m.RequestID)
	b = binary.BigEndian.AppendUint64(b, uint64(m.EntryID))
	b = binary.BigEndian.AppendUint64(b, m.Counter)
	b = append(b, m.StatementHash[:]...)
	return put16(b, []byte(m.Detail)), nil
}

// ParseFeedback decodes a Feedback strictly.
func ParseFeedback(b []byte) (Feedback, error) {
	var r reader
	r.open(b, TypeFeedback)
	var m Feedback
	m.Rule = Rule(r.U16())
	switch r.U8() {
	case 0:
	case 1:
		m.Replayed = true
	default:
		r.Fail()
	}
	m.OrderID = string(r.bytes8(OrderIDLen, OrderIDLen))
	m.RequestID = r.bytes8(0, MaxRequestIDLen)
	m.EntryID = int64(r.U64())
	m.Counter = r.U64()
	copy(m.StatementHash[:], r.Take(proof.HashSize))
	m.Detail = string(r.bytes16(0, MaxDetailLen))
	if !r.Done() {
		return Feedback{}, malformed("feedback of %d bytes", len(b))
	}
	if len(m.RequestID) == 0 {
		m.RequestID = nil
	}
	if err := m.check(); err != nil {
		return Feedback{}, err
	}
	return m, nil
}
