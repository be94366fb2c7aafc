package tokens

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error this package returns matches exactly one of
// them with errors.Is; the returned errors add detail (what was expected,
// what was found) but never key material.
var (
	// ErrMalformed: the bytes are not a hw_auth_token_t (wrong length, not
	// hex, ...). The concrete error is a *MalformedError.
	ErrMalformed = errors.New("malformed auth token")
	// ErrVersion: version byte is not HW_AUTH_TOKEN_VERSION (0).
	ErrVersion = errors.New("unsupported auth token version")
	// ErrBadMAC: the hmac field does not authenticate the token under the key.
	ErrBadMAC = errors.New("auth token MAC mismatch")
	// ErrChallenge: the token's challenge is not the expected one.
	ErrChallenge = errors.New("auth token challenge mismatch")
	// ErrAuthenticatorType: token type & required mask == 0.
	ErrAuthenticatorType = errors.New("auth token authenticator type not allowed")
	// ErrSecureID: neither user_id nor authenticator_id is one of the required SIDs.
	ErrSecureID = errors.New("auth token secure ID mismatch")
	// ErrExpired: now - timestamp > timeout.
	ErrExpired = errors.New("auth token expired")
	// ErrFuture: the timestamp is later than now by more than the clock skew.
	ErrFuture = errors.New("auth token timestamp in the future")
	// ErrKey: the MAC key or algorithm is unusable (see *KeySizeError).
	ErrKey = errors.New("invalid auth token key")
)

// MalformedError says why some input is not a hw_auth_token_t.
// errors.Is(err, ErrMalformed) is true for every *MalformedError.
type MalformedError struct {
	// Len is the decoded length in bytes, or -1 when the input could not be
	// decoded at all (e.g. bad hex).
	Len int
	// Reason is a human-readable description, e.g. "length 68, want 69".
	Reason string
}

func (e *MalformedError) Error() string { return ErrMalformed.Error() + ": " + e.Reason }

// Is reports whether target is ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformedLength(n int) error {
	return &MalformedError{Len: n, Reason: "length " + strconv.Itoa(n) + " bytes, want " + strconv.Itoa(Size)}
}

func nonHex(i int) error {
	return &MalformedError{Len: -1, Reason: "not hex: invalid character at offset " + strconv.Itoa(i)}
}

// KeySizeError reports a MAC key of the wrong length (the auth-token key is
// 32 bytes: Trusty AUTH_TOKEN_KEY_LEN, ISharedSecret H). It matches ErrKey.
type KeySizeError int

func (e KeySizeError) Error() string {
	return ErrKey.Error() + ": key is " + strconv.Itoa(int(e)) + " bytes, want " + strconv.Itoa(KeySize)
}

// Is reports whether target is ErrKey.
func (e KeySizeError) Is(target error) bool { return target == ErrKey }
