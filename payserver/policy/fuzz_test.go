package policy

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: Parse never panics, returns a policy or a *ParseError (never
// both), and an accepted policy's canonical form parses to itself; every
// decision it makes is a superset of the decision for a smaller amount.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed003.policy")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("fpemu-policy 1\nrule a CNY * otp\n"))
	f.Add([]byte("fpemu-policy 1\r\nrule a CNY 5 otp\r\nrule a CNY * otp+shield\r\n"))
	f.Add([]byte("fpemu-policy 2\n"))
	f.Add([]byte("rule a CNY * otp\n"))
	f.Add([]byte("fpemu-policy 1\nrule a CNY 10 fingerprint+otp\nrule a CNY * password+otp\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			var pe *ParseError
			if p != nil || !errors.As(err, &pe) {
				t.Fatalf("Parse: %v, %v: want a nil policy and a *ParseError", p, err)
			}
			return
		}
		c := p.String()
		q, err := Parse([]byte(c))
		if err != nil || q.String() != c {
			t.Fatalf("canonical form does not round-trip: %v\n%s", err, c)
		}
		for _, r := range p.Rules() {
			d, err := p.Decide(r.Tier, 1, r.Currency)
			if err != nil {
				t.Fatalf("Decide(%s, 1, %s): %v", r.Tier, r.Currency, err)
			}
			if r.UpTo != Unbounded {
				e, err := p.Decide(r.Tier, r.UpTo, r.Currency)
				if err != nil || e.Required != r.Required || e.Required&d.Required != d.Required {
					t.Fatalf("Decide at the bound of line %d: %v %v", r.Line, e, err)
				}
			}
		}
	})
}
