package shieldmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Labels. Each is followed by the body named in its comment.
const (
	// ServerLogin: the server's signature over the login random (seed 002
	// login step 2), checked by the card against its pinned server
	// certificate.
	ServerLogin = "fpemu/se/v1 server-login\x00"
	// CardLogin: the card's signature over the same random (step 4),
	// checked by the server against the card's CA-issued certificate.
	CardLogin = "fpemu/se/v1 card-login\x00"
	// ServerPreSubmit: the server's signature over a confirmation body
	// (pre-submit ‖ nonce; transaction step 2).
	ServerPreSubmit = "fpemu/se/v1 server-presubmit\x00"
	// CardConfirm: the card's signature over the same body (step 3),
	// made only after the server's signature verified and the user PIN.
	CardConfirm = "fpemu/se/v1 card-confirm\x00"
)

// Bounds.
const (
	MinRandom     = 16 // login random
	MaxRandom     = 64
	MinNonce      = 16 // pre-submit nonce
	MaxNonce      = 32
	MaxPreSubmit  = 2048 // encoded pre-submit
	MinSignature  = 8    // DER SEQUENCE{r, s} of SM2
	MaxSignature  = 72
	MaxPayeeLen   = 128
	OrderIDLen    = 32 // lower-case hex
	DeviceIDLen   = 16
	PreSubmitIDLn = 32 // lower-case hex
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("shieldmsg: malformed")

func malformed(f string, a ...any) error {
	return fmt.Errorf("%w: "+f, append([]any{ErrMalformed}, a...)...)
}

// LoginMessage is what the server signs for a login random.
func LoginMessage(random []byte) []byte { return append([]byte(ServerLogin), random...) }

// CardLoginMessage is what the card signs for a login random.
func CardLoginMessage(random []byte) []byte { return append([]byte(CardLogin), random...) }

// Body is the confirmation body: u16 length ‖ pre-submit ‖ u8 length ‖
// nonce. Lengths make it unambiguous.
func Body(preSubmit, nonce []byte) []byte {
	b := make([]byte, 0, 3+len(preSubmit)+len(nonce))
	b = binary.BigEndian.AppendUint16(b, uint16(len(preSubmit)))
	b = append(b, preSubmit...)
	b = append(b, byte(len(nonce)))
	return append(b, nonce...)
}

// ServerPreSubmitMessage is what the server signs for a pre-submit.
func ServerPreSubmitMessage(preSubmit, nonce []byte) []byte {
	return append([]byte(ServerPreSubmit), Body(preSubmit, nonce)...)
}

// CardConfirmMessage is what the card signs to confirm a pre-submit.
func CardConfirmMessage(preSubmit, nonce []byte) []byte {
	return append([]byte(CardConfirm), Body(preSubmit, nonce)...)
}

// LoginAPDUData is the data of the card's server-authenticated INTERNAL
// AUTHENTICATE: u8 length ‖ random ‖ server signature.
func LoginAPDUData(random, serverSig []byte) []byte {
	b := append([]byte{byte(len(random))}, random...)
	return append(b, serverSig...)
}

// ParseLoginAPDUData is the inverse of LoginAPDUData, with the bounds.
func ParseLoginAPDUData(d []byte) (random, sig []byte, err error) {
	if len(d) < 1 {
		return nil, nil, malformed("empty")
	}
	n := int(d[0])
	if n < MinRandom || n > MaxRandom || len(d) < 1+n {
		return nil, nil, malformed("random of %d bytes, want %d..%d", n, MinRandom, MaxRandom)
	}
	random, sig = d[1:1+n], d[1+n:]
	if len(sig) < MinSignature || len(sig) > MaxSignature {
		return nil, nil, malformed("signature of %d bytes", len(sig))
	}
	return random, sig, nil
}

// ConfirmAPDUData is the data of the card's PSO P2 BC: u16 length ‖
// pre-submit ‖ u8 length ‖ nonce ‖ u8 length ‖ server signature.
func ConfirmAPDUData(preSubmit, nonce, serverSig []byte) []byte {
	b := Body(preSubmit, nonce)
	b = append(b, byte(len(serverSig)))
	return append(b, serverSig...)
}

// ParseConfirmAPDUData is the inverse of ConfirmAPDUData, with the bounds.
func ParseConfirmAPDUData(d []byte) (preSubmit, nonce, sig []byte, err error) {
	if len(d) < 2 {
		return nil, nil, nil, malformed("short")
	}
	n := int(binary.BigEndian.Uint16(d))
	d = d[2:]
	if n == 0 || n > MaxPreSubmit || len(d) < n+1 {
		return nil, nil, nil, malformed("pre-submit of %d bytes, want 1..%d", n, MaxPreSubmit)
	}
	preSubmit, d = d[:n], d[n:]
	m := int(d[0])
	d = d[1:]
	if m < MinNonce || m > MaxNonce || len(d) < m+1 {
		return nil, nil, nil, malformed("nonce of %d bytes, want %d..%d", m, MinNonce, MaxNonce)
	}
	nonce, d = d[:m], d[m:]
	k := int(d[0])
	d = d[1:]
	if k < MinSignature || k > MaxSignature || len(d) != k {
		return nil, nil, nil, malformed("signature of %d bytes (%d present)", k, len(d))
	}
	return preSubmit, nonce, d, nil
}

// PreSubmit is the transaction the server asks the card to confirm (seed
// 002 transaction step 1: amount, payee, account), bound to one order and
// one device.
type PreSubmit struct {
	ID       string // 32 lower-case hex, the server's name for it
	OrderID  string // 32 lower-case hex
	Device   [DeviceIDLen]byte
	Payee    string // 1..128 bytes UTF-8, no control characters
	Amount   int64  // minor units, > 0
	Currency string // ISO 4217, three A–Z
	Expires  int64  // Unix ms
}

const preSubmitVersion = 1

// Marshal encodes p: 01 ‖ s8 id ‖ s8 order ‖ 16 device ‖ s8 payee ‖ i64
// amount ‖ 3 currency ‖ i64 expires.
func (p PreSubmit) Marshal() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	b := []byte{preSubmitVersion}
	b = append(append(b, byte(len(p.ID))), p.ID...)
	b = append(append(b, byte(len(p.OrderID))), p.OrderID...)
	b = append(b, p.Device[:]...)
	b = append(append(b, byte(len(p.Payee))), p.Payee...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Amount))
	b = append(b, p.Currency...)
	return binary.BigEndian.AppendUint64(b, uint64(p.Expires)), nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (p PreSubmit) check() error {
	switch {
	case !isHex(p.ID, PreSubmitIDLn):
		return malformed("pre-submit id is not %d lower-case hex digits", PreSubmitIDLn)
	case !isHex(p.OrderID, OrderIDLen):
		return malformed("order id is not %d lower-case hex digits", OrderIDLen)
	case len(p.Payee) == 0 || len(p.Payee) > MaxPayeeLen || !utf8.ValidString(p.Payee):
		return malformed("payee of %d bytes", len(p.Payee))
	case p.Amount <= 0:
		return malformed("amount %d", p.Amount)
	case len(p.Currency) != 3:
		return malformed("currency %q", p.Currency)
	}
	for _, r := range p.Payee {
		if r < 0x20 || (r >= 0x7F && r < 0xA0) || r == 0x202D || r == 0x202E {
			return malformed("control character in payee")
		}
	}
	for _, c := range p.Currency {
		if c < 'A' || c > 'Z' {
			return malformed("currency %q", p.Currency)
		}
	}
	return nil
}

// ParsePreSubmit decodes what Marshal encodes, strictly (no trailing
// data; the same checks).
func ParsePreSubmit(b []byte) (PreSubmit, error) {
	var p PreSubmit
	if len(b) > MaxPreSubmit || len(b) < 1 || b[0] != preSubmitVersion {
		return p, malformed("not a version %d pre-submit", preSubmitVersion)
	}
	b = b[1:]
	s8 := func() (string, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", false
		}
		s := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return s, true
	}
	var ok bool
	if p.ID, ok = s8(); !ok {
		return p, malformed("id")
	}
	if p.OrderID, ok = s8(); !ok {
		return p, malformed("order id")
	}
	if len(b) < DeviceIDLen {
		return p, malformed("device")
	}
	copy(p.Device[:], b)
	b = b[DeviceIDLen:]
	if p.Payee, ok = s8(); !ok {
		return p, malformed("payee")
	}
	if len(b) != 8+3+8 {
		return p, malformed("tail of %d bytes, want 19", len(b))
	}
	p.Amount = int64(binary.BigEndian.Uint64(b))
	p.Currency = string(b[8:11])
	p.Expires = int64(binary.BigEndian.Uint64(b[11:]))
	if err := p.check(); err != nil {
		return PreSubmit{}, err
	}
	return p, nil
}
