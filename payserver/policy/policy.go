package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Factor is one authentication factor the server can verify.
type Factor uint8

// Factors, in the order they are listed and printed.
const (
	Fingerprint Factor = 1 << iota // TEE-signed payment statement
	Password                       // Gatekeeper PASSWORD HAT, vouched for in the statement
	OTP                            // one-time code (GM/T 0021 SM3-OTP or RFC 6238 TOTP)
	Shield                         // shield card's SM2 signature over the pre-submit

	allFactors = Fingerprint | Password | OTP | Shield
)

var factorNames = []struct {
	f    Factor
	name string
}{{Fingerprint, "fingerprint"}, {Password, "password"}, {OTP, "otp"}, {Shield, "shield"}}

// Set is a set of factors.
type Set uint8

// All is the set of every factor this version knows: a Set with another
// bit is not one a peer may send.
const All = Set(allFactors)

// NewSet returns the set of fs.
func NewSet(fs ...Factor) Set {
	var s Set
	for _, f := range fs {
		s |= Set(f)
	}
	return s
}

// Has reports whether f is in s.
func (s Set) Has(f Factor) bool { return s&Set(f) != 0 }

// Len is the number of factors in s.
func (s Set) Len() int { return bits.OnesCount8(uint8(s)) }

// Factors lists s in canonical order.
func (s Set) Factors() []Factor {
	var out []Factor
	for _, n := range factorNames {
		if s.Has(n.f) {
			out = append(out, n.f)
		}
	}
	return out
}

// String is the policy-file spelling: names joined by "+", "none" when
// empty.
func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	var names []string
	for _, n := range factorNames {
		if s.Has(n.f) {
			names = append(names, n.name)
		}
	}
	if s&^Set(allFactors) != 0 {
		names = append(names, fmt.Sprintf("unknown(%#x)", uint8(s&^Set(allFactors))))
	}
	return strings.Join(names, "+")
}

func (f Factor) String() string { return Set(f).String() }

// ParseFactor parses one factor name.
func ParseFactor(name string) (Factor, bool) {
	for _, n := range factorNames {
		if n.name == name {
			return n.f, true
		}
	}
	return 0, false
}

// Sentinel errors of Decide and Check.
var (
	// ErrUnknownTier: no rule names the tier.
	ErrUnknownTier = errors.New("policy: unknown customer tier")
	// ErrUnknownCurrency: the tier has no rule for the currency.
	ErrUnknownCurrency = errors.New("policy: no rule for the currency")
	// ErrAmount: an amount that is not positive.
	ErrAmount = errors.New("policy: amount must be positive")
	// ErrMissingFactors: the satisfied factors lack a required one.
	ErrMissingFactors = errors.New("policy: required factors missing")
)

// MissingError is Check's refusal: which required factors were not
// satisfied. It wraps ErrMissingFactors.
type MissingError struct {
	Required, Satisfied, Missing Set
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("policy: missing %s (required %s, satisfied %s)", e.Missing, e.Required, e.Satisfied)
}

func (e *MissingError) Unwrap() error { return ErrMissingFactors }

// Check returns nil when satisfied covers required, else a *MissingError
// naming the missing factors. Extra factors are never a refusal.
func Check(required, satisfied Set) error {
	if missing := required &^ satisfied; missing != 0 {
		return &MissingError{Required: required, Satisfied: satisfied, Missing: missing}
	}
	return nil
}

// Rule is one line of a policy: amounts up to UpTo (inclusive, minor
// units; Unbounded for the last rule of a tier and currency) need
// Required.
type Rule struct {
	Tier     string
	Currency string
	UpTo     int64 // Unbounded: no upper limit
	Required Set
	Line     int // where it was read (0 when built in code)
}

// Unbounded is Rule.UpTo for "*".
const Unbounded int64 = -1

// Decision is what Decide returns: the rule that applies and its factors.
type Decision struct {
	Tier     string
	Currency string
	Amount   int64
	Required Set
	// UpTo is the matched rule's bound (Unbounded for "*"); Band is its
	// index among the tier's rules for the currency (0 = smallest).
	UpTo int64
	Band int
}

// Policy is a parsed, validated policy. The zero value has no rules and
// refuses every decision.
type Policy struct {
	version int
	// rules[tier][currency] is in increasing UpTo order, ending with an
	// Unbounded rule.
	rules map[string]map[string][]Rule
	order []Rule // as read, for String
}

// Version is the format version the file declared.
func (p *Policy) Version() int { return p.version }

// Rules returns the rules in file order.
func (p *Policy) Rules() []Rule { return append([]Rule(nil), p.order...) }

// Tiers returns the tier names in file order.
func (p *Policy) Tiers() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range p.order {
		if !seen[r.Tier] {
			seen[r.Tier] = true
			out = append(out, r.Tier)
		}
	}
	return out
}

// Decide returns the factors a payment of amount (minor units) in
// currency by a customer of tier must carry: the first rule of (tier,
// currency) whose bound is ≥ amount. An unknown tier or currency is an
// error, never a default: the server refuses what its policy does not
// name.
func (p *Policy) Decide(tier string, amount int64, currency string) (Decision, error) {
	if amount <= 0 {
		return Decision{}, fmt.Errorf("%w: %d", ErrAmount, amount)
	}
	byCur, ok := p.rules[tier]
	if !ok {
		return Decision{}, fmt.Errorf("%w: %q", ErrUnknownTier, tier)
	}
	rs, ok := byCur[currency]
	if !ok {
		return Decision{}, fmt.Errorf("%w: tier %q, currency %q", ErrUnknownCurrency, tier, currency)
	}
	for i, r := range rs {
		if r.UpTo == Unbounded || amount <= r.UpTo {
			return Decision{Tier: tier, Currency: currency, Amount: amount, Required: r.Required, UpTo: r.UpTo, Band: i}, nil
		}
	}
	// Parse guarantees an Unbounded last rule.
	return Decision{}, fmt.Errorf("%w: tier %q, currency %q has no rule for %d", ErrUnknownCurrency, tier, currency, amount)
}

// String is the canonical text of p: the header and one rule a line,
// columns aligned, in file order. Parse(p.String()) equals p.
func (p *Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d\n", magic, p.version)
	wt, wa := 0, 0
	for _, r := range p.order {
		wt = max(wt, len(r.Tier))
		wa = max(wa, len(upTo(r.UpTo)))
	}
	for _, r := range p.order {
		fmt.Fprintf(&b, "rule %-*s %s %*s %s\n", wt, r.Tier, r.Currency, wa, upTo(r.UpTo), r.Required)
	}
	return b.String()
}

func upTo(v int64) string {
	if v == Unbounded {
		return "*"
	}
	return fmt.Sprint(v)
}
