package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/internal/cursor"
)

// Marker is the first byte of every message of this package. A proof.Signed
// statement starts with 0x00 (its body length ≤ proof.MaxBodySize), so the
// two never collide.
const Marker = 0xF5

// Version is the only version this package speaks.
const Version = 1

// Type is a message type. Requests (device → server) are below 0x80,
// responses (server → device) from 0x80.
type Type uint8

// Message types (docs/protocol.md §14.2).
const (
	TypeRegister         Type = 0x01 // Register: the attestation chain and finger list
	TypeChallengeRequest Type = 0x02 // ChallengeRequest: a challenge for an order
	TypePayIntent        Type = 0x03 // PayIntent: the next record is the statement
	TypeStatus           Type = 0x04 // StatusRequest: the result of an order paid earlier
	TypePayIntent2       Type = 0x05 // PayIntent2: PayIntent with the further factors (§16.4)
	TypeOTPEnroll        Type = 0x06 // OTPEnroll: a one-time-code seed for an app (§16.4)
	TypeResult           Type = 0x81 // Result: accepted or refused with a rule
	TypeChallenge        Type = 0x82 // Challenge: the server's signed order summary
	TypeFeedback         Type = 0x83 // Feedback: booked or refused with the rule
	TypeOTPSeed          Type = 0x84 // OTPSeed: the seed an OTPEnroll asked for
	TypeSignedFeedback   Type = 0x85 // SignedFeedback: a Feedback with the factor decision, signed
)

func (t Type) String() string {
	switch t {
	case TypeRegister:
		return "register"
	case TypeChallengeRequest:
		return "challenge-request"
	case TypePayIntent:
		return "pay-intent"
	case TypeStatus:
		return "status"
	case TypeResult:
		return "result"
	case TypeChallenge:
		return "challenge"
	case TypeFeedback:
		return "feedback"
	case TypePayIntent2:
		return "pay-intent-2"
	case TypeOTPEnroll:
		return "otp-enroll"
	case TypeOTPSeed:
		return "otp-seed"
	case TypeSignedFeedback:
		return "signed-feedback"
	}
	return fmt.Sprintf("type-%#02x", uint8(t))
}

// Bounds. Each keeps what one peer can make the other hold finite; all
// messages fit chanwire.MaxCustom.
const (
	OrderIDLen      = 32  // store order ids: 32 lower-case hex digits
	MaxRequestIDLen = 64  // store.MaxRequestIDLen
	MaxFingers      = 32  // store.MaxFingers
	MaxPayeeLen     = 128 // store.MaxPayeeLen
	MaxSummaryLen   = 512 // store.MaxSummaryLen
	MaxDetailLen    = 256 // a refusal's human-readable detail
	MaxSignatureLen = 72  // DER SM2 signature
)

// ErrMalformed: bytes that are not a canonical version-1 message.
var ErrMalformed = errors.New("wire: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// IsMessage reports whether custom info carries a message of this package
// (else it is taken for a signed statement).
func IsMessage(custom []byte) bool { return len(custom) > 0 && custom[0] == Marker }

// PeekType returns the type of a message after checking marker and version.
func PeekType(b []byte) (Type, error) {
	if len(b) < 3 || b[0] != Marker {
		return 0, malformed("no message header")
	}
	if b[1] != Version {
		return 0, malformed("version %d", b[1])
	}
	return Type(b[2]), nil
}

func header(t Type) []byte { return []byte{Marker, Version, byte(t)} }

// reader is the messages' strict cursor (internal/cursor): any short
// read or refused field marks it bad and yields zeros.
type reader struct{ cursor.Reader }

// bytes8 / bytes16 read a u8- or u16-length-prefixed field of min..max
// bytes, copied out of the input (nil when empty).
func (r *reader) bytes8(minLen, maxLen int) []byte {
	return append([]byte(nil), r.Field8(minLen, maxLen)...)
}
func (r *reader) bytes16(minLen, maxLen int) []byte {
	return append([]byte(nil), r.Field16(minLen, maxLen)...)
}

// open starts r on message b, after checking its marker, version and type.
func (r *reader) open(b []byte, t Type) {
	if len(b) < 3 || b[0] != Marker || b[1] != Version || Type(b[2]) != t {
		r.Fail()
		return
	}
	r.Reader = cursor.New(b[3:])
}

func put8(b, v []byte) []byte  { return append(append(b, byte(len(v))), v...) }
func put16(b, v []byte) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(v))), v...) }

// checkOrderID: 32 lower-case hex digits.
func checkOrderID(id string) error {
	if len(id) != OrderIDLen {
		return malformed("order id of %d bytes, want %d", len(id), OrderIDLen)
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return malformed("order id is not lower-case hex")
		}
	}
	return nil
}

// checkText: valid UTF-8 of minLen..maxLen bytes without control characters
// (what a device shows the user must not be able to hide text).
func checkText(what, s string, minLen, maxLen int) error {
	if len(s) < minLen || len(s) > maxLen {
		return malformed("%s of %d bytes, want %d..%d", what, len(s), minLen, maxLen)
	}
	if !utf8.ValidString(s) {
		return malformed("%s is not UTF-8", what)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x202e || c == 0x202d {
			return malformed("%s contains control character %U", what, c)
		}
	}
	return nil
}

// checkCurrency: ISO 4217 alphabetic code, three upper-case letters.
func checkCurrency(c string) error {
	if len(c) != 3 {
		return malformed("currency %q", c)
	}
	for _, x := range []byte(c) {
		if x < 'A' || x > 'Z' {
			return malformed("currency %q", c)
		}
	}
	return nil
}

// --- Register -------------------------------------------------------------

// Register asks the server to register a scene key: the payment TA's
// attestation chain (device → app → scene, bio/payment/proof signed
// certificates) and the finger ids the scene certificate's FingerBinding
// commits to, strictly increasing.
//
//	hdr ‖ u16 len ‖ device cert ‖ u16 len ‖ app cert ‖ u16 len ‖ scene cert ‖
//	u8 n (1..MaxFingers) ‖ n × u32 finger id
type Register struct {
	Device, App, Scene []byte
	FingerIDs          []uint32
}

func (m Register) check() error {
	for _, c := range [][]byte{m.Device, m.App, m.Scene} {
		if len(c) == 0 || len(c) > proof.MaxSignedSize {
			return malformed("certificate of %d bytes, want 1..%d", len(c), proof.MaxSignedSize)
		}
	}
	if len(m.FingerIDs) == 0 || len(m.FingerIDs) > MaxFingers {
		return malformed("%d finger ids, want 1..%d", len(m.FingerIDs), MaxFingers)
	}
	for i, f := range m.FingerIDs {
		if f == 0 || (i > 0 && f <= m.FingerIDs[i-1]) {
			return malformed("finger ids must be non-zero and strictly increasing")
		}
	}
	return nil
}

// Marshal returns the canonical bytes of m.
func (m Register) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := header(TypeRegister)
	b = put16(b, m.Device)
	b = put16(b, m.App)
	b = put16(b, m.Scene)
	b = append(b, byte(len(m.FingerIDs)))
	for _, f := range m.FingerIDs {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	return b, nil
}

// ParseRegister decodes a Register strictly.
func ParseRegister(b []byte) (Register, error) {
	var r reader
	r.open(b, TypeRegister)
	var m Register
	m.Device = r.bytes16(1, proof.MaxSignedSize)
	m.App = r.bytes16(1, proof.MaxSignedSize)
	m.Scene = r.bytes16(1, proof.MaxSignedSize)
	n := int(r.U8())
	if n < 1 || n > MaxFingers {
		r.Fail()
	}
	for i := 0; i < n && !r.Bad(); i++ {
		m.FingerIDs = append(m.FingerIDs, r.U32())
	}
	if !r.Done() {
		return Register{}, malformed("register of %d bytes", len(b))
	}
	if err := m.check(); err != nil {
		return Register{}, err
	}
	return m, nil
}

// --- ChallengeRequest / StatusRequest -------------------------------------

// ChallengeRequest asks for a challenge for an order: hdr ‖ u8 len ‖ order id.
type ChallengeRequest struct{ OrderID string }

// Marshal returns the canonical bytes of m.
func (m ChallengeRequest) Marshal() ([]byte, error) {
	return marshalOrderOnly(TypeChallengeRequest, m.OrderID)
}

// ParseChallengeRequest decodes a ChallengeRequest strictly.
func ParseChallengeRequest(b []byte) (ChallengeRequest, error) {
	id, err := parseOrderOnly(b, TypeChallengeRequest)
	return ChallengeRequest{OrderID: id}, err
}

// StatusRequest asks for the result of an order this device paid (a
// retry after a lost feedback): hdr ‖ u8 len ‖ order id.
type StatusRequest struct{ OrderID string }

// Marshal returns the canonical bytes of m.
func (m StatusRequest) Marshal() ([]byte, error) { return marshalOrderOnly(TypeStatus, m.OrderID) }

// ParseStatusRequest decodes a StatusRequest strictly.
func ParseStatusRequest(b []byte) (StatusRequest, error) {
	id, err := parseOrderOnly(b, TypeStatus)
	return StatusRequest{OrderID: id}, err
}

func marshalOrderOnly(t Type, id string) ([]byte, error) {
	if err := checkOrderID(id); err != nil {
		return nil, err
	}
	return put8(header(t), []byte(id)), nil
}

func parseOrderOnly(b []byte, t Type) (string, error) {
	var r reader
	r.open(b, t)
	id := string(r.bytes8(OrderIDLen, OrderIDLen))
	if !r.Done() {
		return "", malformed("%s of %d bytes", t, len(b))
	}
	if err := checkOrderID(id); err != nil {
		return "", err
	}
	return id, nil
}

// --- PayIntent ------------------------------------------------------------

// PayIntent announces a payment: the next record on the channel is the
// signed statement for Order under server Challenge; RequestID names the
// request (a retry carries the same one).
//
//	hdr ‖ u8 len ‖ request id (1..64) ‖ u8 len ‖ order id ‖ u64 challenge
type PayIntent struct {
	RequestID []byte
	OrderID   string
	Challenge uint64
}

func (m PayIntent) check() error {
	if len(m.RequestID) == 0 || len(m.RequestID) > MaxRequestIDLen {
		return malformed("request id of %d bytes, want 1..%d", len(m.RequestID), MaxRequestIDLen)
	}
	if m.Challenge == 0 {
		return malformed("challenge 0")
	}
	return checkOrderID(m.OrderID)
}

// Marshal returns the canonical bytes of m.
func (m PayIntent) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := put8(header(TypePayIntent), m.RequestID)
	b = put8(b, []byte(m.OrderID))
	return binary.BigEndian.AppendUint64(b, m.Challenge), nil
}

// ParsePayIntent decodes a PayIntent strictly.
func ParsePayIntent(b []byte) (PayIntent, error) {
	var r reader
	r.open(b, TypePayIntent)
	m := PayIntent{RequestID: r.bytes8(1, MaxRequestIDLen), OrderID: string(r.bytes8(OrderIDLen, OrderIDLen)), Challenge: r.U64()}
	if !r.Done() {
		return PayIntent{}, malformed("pay intent of %d bytes", len(b))
	}
	if err := m.check(); err != nil {
		return PayIntent{}, err
	}
	return m, nil
}
