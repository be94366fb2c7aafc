package tokens

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// Sizes of the hw_auth_token_t record (hw_auth_token.h).
const (
	// Size is sizeof(hw_auth_token_t): the whole packed record.
	Size = 69
	// MACSize is the length of the hmac field (AIDL Constants::AUTH_TOKEN_MAC_LENGTH).
	MACSize = 32
	// MACedSize is the number of leading bytes covered by the MAC:
	// offsetof(hw_auth_token_t, hmac) = 1+8+8+8+4+8 (gatekeeper.cpp MintAuthToken
	// static_asserts the same "hashable_length").
	MACedSize = Size - MACSize
	// Version is HW_AUTH_TOKEN_VERSION, the only version AOSP accepts.
	Version = 0
)

// Field offsets inside the 69-byte record.
const (
	offVersion         = 0
	offChallenge       = 1
	offUserID          = 9
	offAuthenticatorID = 17
	offAuthType        = 25
	offTimestamp       = 29
	offMAC             = 37
)

// Token is a decoded hw_auth_token_t. The integer fields hold the values
// (not the wire bytes): byte order is handled by Parse and Marshal.
type Token struct {
	Version           uint8             // HW_AUTH_TOKEN_VERSION; 0 is the only valid value
	Challenge         uint64            // operation handle / enroll challenge (little-endian on the wire)
	UserID            uint64            // secure user ID (SID) from Gatekeeper, not the Android user id
	AuthenticatorID   uint64            // secure authenticator ID (e.g. fingerprint set id)
	AuthenticatorType AuthenticatorType // which authenticator produced the token (big-endian on the wire)
	Timestamp         uint64            // milliseconds since boot (big-endian on the wire)
	MAC               [MACSize]byte     // HMAC over the first MACedSize bytes
}

// Parse decodes exactly Size bytes into a Token. Any other length is a
// *MalformedError (errors.Is(err, ErrMalformed)); on error the returned Token
// is the zero value. Parse accepts every version byte and every
// authenticator type: those are policy, checked by Verifier.
func Parse(b []byte) (Token, error) {
	if len(b) != Size {
		return Token{}, malformedLength(len(b))
	}
	return decode((*[Size]byte)(b)), nil
}

// ParseHex decodes a token written as hexadecimal text (either case).
// Leading and trailing whitespace is ignored; nothing else is guessed: no
// "0x" prefix, no inner spaces or separators. Non-hex text, an odd number of
// digits and a decoded length other than Size are *MalformedError.
func ParseHex(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s)%2 != 0 {
		return Token{}, &MalformedError{Len: -1, Reason: "odd number of hex digits (" + strconv.Itoa(len(s)) + ")"}
	}
	if len(s) != 2*Size {
		// Check the text is hex first, so the message says what is wrong.
		if i := firstNonHex(s); i >= 0 {
			return Token{}, nonHex(i)
		}
		return Token{}, malformedLength(len(s) / 2)
	}
	var b [Size]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return Token{}, nonHex(firstNonHex(s))
	}
	return decode(&b), nil
}

func firstNonHex(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return i
		}
	}
	return -1
}

func decode(b *[Size]byte) Token {
	var t Token
	t.Version = b[offVersion]
	t.Challenge = binary.LittleEndian.Uint64(b[offChallenge:])
	t.UserID = binary.LittleEndian.Uint64(b[offUserID:])
	t.AuthenticatorID = binary.LittleEndian.Uint64(b[offAuthenticatorID:])
	t.AuthenticatorType = AuthenticatorType(binary.BigEndian.Uint32(b[offAuthType:]))
	t.Timestamp = binary.BigEndian.Uint64(b[offTimestamp:])
	copy(t.MAC[:], b[offMAC:])
	return t
}

// Marshal returns the 69-byte wire form of t.
func (t Token) Marshal() []byte {
	return t.Append(make([]byte, 0, Size))
}

// MarshalWithoutMAC returns the MACedSize (37) bytes the MAC is computed over:
// version || challenge || user_id || authenticator_id || authenticator_type ||
// timestamp, in the wire byte orders (AIDL HardwareAuthToken mac doc).
func (t Token) MarshalWithoutMAC() []byte {
	return t.AppendWithoutMAC(make([]byte, 0, MACedSize))
}

// Array returns the wire form of t as a fixed-size array (no allocation).
func (t Token) Array() [Size]byte {
	var b [Size]byte
	t.put(&b)
	return b
}

// Append appends the 69-byte wire form of t to dst.
func (t Token) Append(dst []byte) []byte {
	a := t.Array()
	return append(dst, a[:]...)
}

// AppendWithoutMAC appends the MACedSize bytes covered by the MAC to dst.
func (t Token) AppendWithoutMAC(dst []byte) []byte {
	a := t.Array()
	return append(dst, a[:MACedSize]...)
}

func (t *Token) put(b *[Size]byte) {
	t.putWithoutMAC((*[MACedSize]byte)(b[:MACedSize]))
	copy(b[offMAC:], t.MAC[:])
}

func (t *Token) putWithoutMAC(b *[MACedSize]byte) {
	b[offVersion] = t.Version
	binary.LittleEndian.PutUint64(b[offChallenge:], t.Challenge)
	binary.LittleEndian.PutUint64(b[offUserID:], t.UserID)
	binary.LittleEndian.PutUint64(b[offAuthenticatorID:], t.AuthenticatorID)
	binary.BigEndian.PutUint32(b[offAuthType:], uint32(t.AuthenticatorType))
	binary.BigEndian.PutUint64(b[offTimestamp:], t.Timestamp)
}

// MarshalBinary implements encoding.BinaryMarshaler; it never fails.
func (t Token) MarshalBinary() ([]byte, error) { return t.Marshal(), nil }

// AppendBinary implements encoding.BinaryAppender; it never fails.
func (t Token) AppendBinary(b []byte) ([]byte, error) { return t.Append(b), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler with Parse's rules.
// On error *t is left unchanged.
func (t *Token) UnmarshalBinary(b []byte) error {
	p, err := Parse(b)
	if err != nil {
		return err
	}
	*t = p
	return nil
}
