package tokens

import (
	"fmt"
	"strconv"
	"strings"
)

// AuthenticatorType is hw_authenticator_type_t (AIDL HardwareAuthenticatorType):
// a bitmask of the authenticators that produced a token, or that a key
// accepts. On the wire it is a big-endian uint32.
type AuthenticatorType uint32

// The AOSP authenticator types (hw_auth_token.h; AIDL HardwareAuthenticatorType).
const (
	AuthNone        AuthenticatorType = 0          // HW_AUTH_NONE
	AuthPassword    AuthenticatorType = 1 << 0     // HW_AUTH_PASSWORD
	AuthFingerprint AuthenticatorType = 1 << 1     // HW_AUTH_FINGERPRINT
	AuthAny         AuthenticatorType = 0xFFFFFFFF // HW_AUTH_ANY
)

// String returns the AOSP name of t: "NONE", "PASSWORD", "FINGERPRINT",
// "ANY", or the set bits joined with "|", unnamed bits in hex
// (e.g. "PASSWORD|FINGERPRINT", "FINGERPRINT|0x4").
func (t AuthenticatorType) String() string {
	switch t {
	case AuthNone:
		return "NONE"
	case AuthAny:
		return "ANY"
	case AuthPassword:
		return "PASSWORD"
	case AuthFingerprint:
		return "FINGERPRINT"
	}
	var parts []string
	if t&AuthPassword != 0 {
		parts = append(parts, "PASSWORD")
	}
	if t&AuthFingerprint != 0 {
		parts = append(parts, "FINGERPRINT")
	}
	if rest := t &^ (AuthPassword | AuthFingerprint); rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// ParseAuthenticatorType parses a type or mask as the CLI and config files
// spell it: an AOSP name (none, password, fingerprint, any; any case, with or
// without the HW_AUTH_ prefix), several names joined with "|", or an
// unsigned 32-bit integer (decimal, or hex with 0x).
func ParseAuthenticatorType(s string) (AuthenticatorType, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty authenticator type")
	}
	if n, err := strconv.ParseUint(s, 0, 32); err == nil {
		return AuthenticatorType(n), nil
	}
	var t AuthenticatorType
	for _, part := range strings.Split(s, "|") {
		name := strings.ToUpper(strings.TrimSpace(part))
		name = strings.TrimPrefix(name, "HW_AUTH_")
		switch name {
		case "NONE":
		case "PASSWORD":
			t |= AuthPassword
		case "FINGERPRINT":
			t |= AuthFingerprint
		case "ANY":
			t |= AuthAny
		default:
			return 0, fmt.Errorf("unknown authenticator type %q (want none, password, fingerprint, any or a 32-bit number)", part)
		}
	}
	return t, nil
}
