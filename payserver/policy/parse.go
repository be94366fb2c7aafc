package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Format and bounds (docs/protocol.md §16.1).
const (
	magic = "fpemu-policy"
	// FormatVersion is the only version this build reads.
	FormatVersion = 1
	// MaxFileSize bounds a policy file (bytes).
	MaxFileSize = 64 << 10
	// MaxLineLen bounds one line (bytes, without the newline).
	MaxLineLen = 256
	// MaxRules bounds the rules of one policy.
	MaxRules = 1024
	// MaxTierLen bounds a tier name.
	MaxTierLen = 32
)

// Sentinel errors of Parse; a *ParseError wraps exactly one.
var (
	ErrTooLarge     = errors.New("policy: file, line or rule count over its bound")
	ErrEncoding     = errors.New("policy: not printable ASCII")
	ErrHeader       = errors.New("policy: missing or malformed header")
	ErrVersion      = errors.New("policy: unsupported format version")
	ErrSyntax       = errors.New("policy: syntax error")
	ErrTier         = errors.New("policy: malformed tier name")
	ErrCurrency     = errors.New("policy: malformed currency")
	ErrBound        = errors.New("policy: malformed amount bound")
	ErrFactor       = errors.New("policy: unknown, repeated or missing factor")
	ErrOrder        = errors.New("policy: bounds not strictly increasing")
	ErrCoverage     = errors.New("policy: a tier and currency without a final '*' rule")
	ErrNotMonotonic = errors.New("policy: a larger amount requires fewer factors")
	ErrEmpty        = errors.New("policy: no rules")
)

// ParseError is a refusal of Parse: where (1-based line; field 1-based
// among the line's whitespace-separated fields, 0 for the whole line)
// and why (one sentinel error above).
type ParseError struct {
	Line, Field int
	Err         error
	Detail      string
}

func (e *ParseError) Error() string {
	pos := fmt.Sprintf("line %d", e.Line)
	if e.Field > 0 {
		pos += fmt.Sprintf(" field %d", e.Field)
	}
	if e.Detail == "" {
		return fmt.Sprintf("%s: %v", pos, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", pos, e.Err, e.Detail)
}

func (e *ParseError) Unwrap() error { return e.Err }

func perr(line, field int, err error, f string, a ...any) *ParseError {
	return &ParseError{Line: line, Field: field, Err: err, Detail: fmt.Sprintf(f, a...)}
}

// Parse reads a policy file (docs/protocol.md §16.1):
//
//	fpemu-policy 1
//	# comment
//	rule TIER CURRENCY UPTO FACTOR[+FACTOR…]
//
// UPTO is an inclusive bound in minor units (decimal, no sign, no leading
// zero) or "*" (no bound). For each (tier, currency) the bounds are
// strictly increasing in file order and the last is "*", so every
// positive amount has exactly one rule; each rule's factors include the
// previous rule's (a larger amount never asks for less). A '#' starts a
// comment anywhere on a line. Only printable ASCII, spaces and tabs; LF
// or CRLF line ends.
func Parse(text []byte) (*Policy, error) {
	if len(text) > MaxFileSize {
		return nil, perr(0, 0, ErrTooLarge, "%d bytes, max %d", len(text), MaxFileSize)
	}
	p := &Policy{rules: map[string]map[string][]Rule{}}
	lines := strings.Split(string(text), "\n")
	header := false
	for i, raw := range lines {
		ln := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		if len(raw) > MaxLineLen {
			return nil, perr(ln, 0, ErrTooLarge, "line of %d bytes, max %d", len(raw), MaxLineLen)
		}
		for j := 0; j < len(raw); j++ {
			if c := raw[j]; c != '\t' && (c < 0x20 || c > 0x7e) {
				return nil, perr(ln, 0, ErrEncoding, "byte %#02x at column %d", c, j+1)
			}
		}
		if k := strings.IndexByte(raw, '#'); k >= 0 {
			raw = raw[:k]
		}
		f := strings.Fields(raw)
		if len(f) == 0 {
			continue
		}
		if !header {
			if len(f) != 2 || f[0] != magic {
				return nil, perr(ln, 1, ErrHeader, "want %q", magic+" 1")
			}
			v, err := strconv.Atoi(f[1])
			if err != nil || f[1] != strconv.Itoa(v) {
				return nil, perr(ln, 2, ErrHeader, "version %q", f[1])
			}
			if v != FormatVersion {
				return nil, perr(ln, 2, ErrVersion, "version %d, this build reads %d", v, FormatVersion)
			}
			p.version, header = v, true
			continue
		}
		if f[0] != "rule" {
			return nil, perr(ln, 1, ErrSyntax, "unknown keyword %q", f[0])
		}
		if len(f) != 5 {
			return nil, perr(ln, 0, ErrSyntax, "%d fields, want: rule TIER CURRENCY UPTO FACTORS", len(f))
		}
		if len(p.order) == MaxRules {
			return nil, perr(ln, 0, ErrTooLarge, "more than %d rules", MaxRules)
		}
		r, err := parseRule(ln, f)
		if err != nil {
			return nil, err
		}
		if err := p.add(r); err != nil {
			return nil, err
		}
	}
	if !header {
		return nil, perr(len(lines), 0, ErrHeader, "no %q line", magic+" 1")
	}
	if len(p.order) == 0 {
		return nil, perr(len(lines), 0, ErrEmpty, "")
	}
	// Every (tier, currency) must end unbounded; report the first, in
	// file order, whose last rule is bounded.
	for _, r := range p.order {
		rs := p.rules[r.Tier][r.Currency]
		if last := rs[len(rs)-1]; last.UpTo != Unbounded {
			return nil, perr(last.Line, 4, ErrCoverage, "tier %q currency %s ends at %d", r.Tier, r.Currency, last.UpTo)
		}
	}
	return p, nil
}

func parseRule(ln int, f []string) (Rule, error) {
	r := Rule{Tier: f[1], Currency: f[2], Line: ln}
	if !validTier(r.Tier) {
		return r, perr(ln, 2, ErrTier, "%q: want [a-z][a-z0-9_-]{0,%d}", r.Tier, MaxTierLen-1)
	}
	if !validCurrency(r.Currency) {
		return r, perr(ln, 3, ErrCurrency, "%q: want an ISO 4217 alphabetic code", r.Currency)
	}
	if f[3] == "*" {
		r.UpTo = Unbounded
	} else {
		v, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || v <= 0 || f[3] != strconv.FormatInt(v, 10) || v == math.MaxInt64 {
			return r, perr(ln, 4, ErrBound, "%q: want 1..%d minor units or '*'", f[3], int64(math.MaxInt64-1))
		}
		r.UpTo = v
	}
	for _, name := range strings.Split(f[4], "+") {
		fa, ok := ParseFactor(name)
		if !ok {
			return r, perr(ln, 5, ErrFactor, "%q: want fingerprint, password, otp or shield joined by '+'", name)
		}
		if r.Required.Has(fa) {
			return r, perr(ln, 5, ErrFactor, "%s twice", name)
		}
		r.Required |= Set(fa)
	}
	return r, nil
}

func (p *Policy) add(r Rule) error {
	byCur := p.rules[r.Tier]
	if byCur == nil {
		byCur = map[string][]Rule{}
		p.rules[r.Tier] = byCur
	}
	rs := byCur[r.Currency]
	if n := len(rs); n > 0 {
		prev := rs[n-1]
		if prev.UpTo == Unbounded {
			return perr(r.Line, 4, ErrOrder, "tier %q currency %s already unbounded on line %d", r.Tier, r.Currency, prev.Line)
		}
		if r.UpTo != Unbounded && r.UpTo <= prev.UpTo {
			return perr(r.Line, 4, ErrOrder, "%d after %d (line %d)", r.UpTo, prev.UpTo, prev.Line)
		}
		if missing := prev.Required &^ r.Required; missing != 0 {
			return perr(r.Line, 5, ErrNotMonotonic, "drops %s required up to %d (line %d)", missing, prev.UpTo, prev.Line)
		}
	}
	byCur[r.Currency] = append(rs, r)
	p.order = append(p.order, r)
	return nil
}

func validTier(s string) bool {
	if len(s) == 0 || len(s) > MaxTierLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
