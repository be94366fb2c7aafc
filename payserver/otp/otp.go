package otp

import (
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emmansun/gmsm/sm3"
	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Algorithm names a code algorithm.
type Algorithm string

// Algorithms.
const (
	// SM3 is GM/T 0021-2012 SM3-OTP with a time factor only (ID = T).
	SM3 Algorithm = "sm3"
	// TOTPSHA1 and TOTPSHA256 are RFC 6238 TOTP with HMAC-SHA-1 (the
	// authenticator-app default) and HMAC-SHA-256.
	TOTPSHA1   Algorithm = "totp-sha1"
	TOTPSHA256 Algorithm = "totp-sha256"
)

// Bounds and defaults.
const (
	// MinSeedLen is GM/T 0021's minimum seed (128 bits); RFC 4226 §4 R6
	// also asks for at least 128 bits.
	MinSeedLen = 16
	// MaxSeedLen bounds a seed (bytes).
	MaxSeedLen = 64
	// DefaultSeedLen is what NewSeed makes (RFC 4226 recommends 160 bits;
	// 256 covers SM3's output).
	DefaultSeedLen = 32
	// MinDigits and MaxDigits bound a code's length: GM/T 0021 asks for
	// at least 6 digits; a 32-bit OD has 10, RFC 4226 stops at 8 with
	// a 31-bit value, so 8 is the common bound.
	MinDigits = 6
	MaxDigits = 8
	// MaxPeriod is GM/T 0021's longest change period (60 s); RFC 6238's
	// default is 30 s.
	MaxPeriod = 60 * time.Second
	// MaxSkew bounds the accepted steps either side of now.
	MaxSkew = 2
)

// Errors.
var (
	// ErrParams: a parameter out of its bound or an unknown algorithm.
	ErrParams = errors.New("otp: invalid parameters")
	// ErrMalformed: the code is not Digits ASCII digits.
	ErrMalformed = errors.New("otp: malformed code")
	// ErrMismatch: the code matches no step of the window.
	ErrMismatch = errors.New("otp: wrong code")
	// ErrReplay: the code's step is not above the last accepted one
	// (a replay, or an older code after a newer one).
	ErrReplay = errors.New("otp: code already used or older than the last accepted code")
)

// Params are one seed's code parameters.
type Params struct {
	Algorithm Algorithm
	Digits    int           // MinDigits..MaxDigits
	Period    time.Duration // whole seconds, 1 s..MaxPeriod (Tc of GM/T 0021, X of RFC 6238)
	// Epoch is T0 (Unix seconds; 0 for both standards' default).
	Epoch int64
}

// DefaultParams returns the defaults for a: 6 digits; 60 s for SM3 (the
// longest period GM/T 0021 allows, what tokens commonly use), 30 s for
// TOTP (RFC 6238 §5.2).
func DefaultParams(a Algorithm) Params {
	p := Params{Algorithm: a, Digits: 6, Period: 30 * time.Second}
	if a == SM3 {
		p.Period = 60 * time.Second
	}
	return p
}

// Validate checks p.
func (p Params) Validate() error {
	switch p.Algorithm {
	case SM3, TOTPSHA1, TOTPSHA256:
	default:
		return fmt.Errorf("%w: algorithm %q", ErrParams, p.Algorithm)
	}
	switch {
	case p.Digits < MinDigits || p.Digits > MaxDigits:
		return fmt.Errorf("%w: %d digits, want %d..%d", ErrParams, p.Digits, MinDigits, MaxDigits)
	case p.Period < time.Second || p.Period > MaxPeriod || p.Period%time.Second != 0:
		return fmt.Errorf("%w: period %v, want whole seconds 1s..%v", ErrParams, p.Period, MaxPeriod)
	case p.Epoch < 0:
		return fmt.Errorf("%w: epoch %d", ErrParams, p.Epoch)
	}
	return nil
}

// Step is the time step of t: floor((t − T0) / period). A time before
// the epoch has no step (ok false).
func (p Params) Step(t time.Time) (step uint64, ok bool) {
	d := t.Unix() - p.Epoch
	if d < 0 {
		return 0, false
	}
	return uint64(d) / uint64(p.Period/time.Second), true
}

func checkSeed(seed []byte) error {
	if len(seed) < MinSeedLen || len(seed) > MaxSeedLen {
		return fmt.Errorf("%w: seed of %d bytes, want %d..%d", ErrParams, len(seed), MinSeedLen, MaxSeedLen)
	}
	return nil
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// SM3Input is GM/T 0021's ID: a time factor T, an event factor C and a
// challenge factor Q, each optional but not all absent.
type SM3Input struct {
	HasTime    bool
	Time       uint64 // T: the time step
	HasCounter bool
	Counter    uint32 // C
	Challenge  []byte // Q: 4..64 bytes (the standard: at least 4), nil for none
}

// MaxChallengeLen bounds SM3Input.Challenge.
const MaxChallengeLen = 64

// SM3Code is GM/T 0021-2012's SM3 algorithm: ID = T ‖ C ‖ Q (big-endian,
// present factors only, zero-padded to 128 bits), S = SM3(K ‖ ID),
// OD = Σ Si mod 2^32 (the eight big-endian 32-bit words of S), code =
// OD mod 10^digits, zero-padded to digits.
func SM3Code(seed []byte, in SM3Input, digits int) (string, error) {
	if err := checkSeed(seed); err != nil {
		return "", err
	}
	if digits < MinDigits || digits > MaxDigits {
		return "", fmt.Errorf("%w: %d digits", ErrParams, digits)
	}
	if !in.HasTime && !in.HasCounter && in.Challenge == nil {
		return "", fmt.Errorf("%w: no time, counter or challenge factor", ErrParams)
	}
	if in.Challenge != nil && (len(in.Challenge) < 4 || len(in.Challenge) > MaxChallengeLen) {
		return "", fmt.Errorf("%w: challenge of %d bytes, want 4..%d", ErrParams, len(in.Challenge), MaxChallengeLen)
	}
	id := make([]byte, 0, 16+len(in.Challenge))
	if in.HasTime {
		id = binary.BigEndian.AppendUint64(id, in.Time)
	}
	if in.HasCounter {
		id = binary.BigEndian.AppendUint32(id, in.Counter)
	}
	id = append(id, in.Challenge...)
	for len(id) < 16 {
		id = append(id, 0)
	}
	h := sm3.New()
	h.Write(seed)
	h.Write(id)
	s := h.Sum(nil)
	var od uint32
	for i := 0; i < len(s); i += 4 {
		od += binary.BigEndian.Uint32(s[i:])
	}
	return fmt.Sprintf("%0*d", digits, od%pow10[digits]), nil
}

// Code returns the code of seed for step under p.
func (p Params) Code(seed []byte, step uint64) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if err := checkSeed(seed); err != nil {
		return "", err
	}
	switch p.Algorithm {
	case SM3:
		return SM3Code(seed, SM3Input{HasTime: true, Time: step}, p.Digits)
	default:
		alg := potp.AlgorithmSHA1
		if p.Algorithm == TOTPSHA256 {
			alg = potp.AlgorithmSHA256
		}
		// pquerna/otp takes the shared secret base32-encoded (the
		// otpauth:// form); RFC 6238 TOTP is HOTP over the time step.
		secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
		return hotp.GenerateCodeCustom(secret, step, hotp.ValidateOpts{Digits: potp.Digits(p.Digits), Algorithm: alg})
	}
}

// CodeAt returns the code of seed at time t.
func (p Params) CodeAt(seed []byte, t time.Time) (string, error) {
	step, ok := p.Step(t)
	if !ok {
		return "", fmt.Errorf("%w: time before the epoch", ErrParams)
	}
	return p.Code(seed, step)
}

// checkCode refuses anything but exactly digits ASCII digits.
func checkCode(code string, digits int) error {
	if len(code) != digits {
		return fmt.Errorf("%w: %d characters, want %d digits", ErrMalformed, len(code), digits)
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return fmt.Errorf("%w: not all digits", ErrMalformed)
		}
	}
	return nil
}

// Match returns the steps in now−skew … now+skew whose code equals code,
// ascending. Every candidate is computed and compared in constant time,
// so the time taken does not say which step (if any) matched.
func (p Params) Match(seed []byte, code string, now time.Time, skew int) ([]uint64, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if skew < 0 || skew > MaxSkew {
		return nil, fmt.Errorf("%w: skew %d, want 0..%d", ErrParams, skew, MaxSkew)
	}
	if err := checkCode(code, p.Digits); err != nil {
		return nil, err
	}
	cur, ok := p.Step(now)
	if !ok {
		return nil, fmt.Errorf("%w: time before the epoch", ErrParams)
	}
	var out []uint64
	for d := -skew; d <= skew; d++ {
		if d < 0 && cur < uint64(-d) {
			continue
		}
		step := uint64(int64(cur) + int64(d))
		want, err := p.Code(seed, step)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			out = append(out, step)
		}
	}
	return out, nil
}

// formatStep is for errors and logs.
func formatStep(s uint64) string { return strconv.FormatUint(s, 10) }

func secondsDur(s int) time.Duration {
	if s < 0 || s > int(MaxPeriod/time.Second) {
		return -1
	}
	return time.Duration(s) * time.Second
}
