package policy

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func seedPolicy(t *testing.T) *Policy {
	t.Helper()
	b, err := os.ReadFile("testdata/seed003.policy")
	require.NoError(t, err)
	p, err := Parse(b)
	require.NoError(t, err)
	return p
}

// TestDecideSeed003 pins the boundaries of the shipped example: seed
// 003's small / medium / large payments need 1 / 2 / 3 factors.
func TestDecideSeed003(t *testing.T) {
	p := seedPolicy(t)
	fp, pw, otp, sh := Fingerprint, Password, OTP, Shield
	for _, c := range []struct {
		tier     string
		amount   int64
		currency string
		want     Set
		band     int
	}{
		{"standard", 1, "CNY", NewSet(fp), 0},
		{"standard", 50000, "CNY", NewSet(fp), 0},
		{"standard", 50001, "CNY", NewSet(fp, pw), 1},
		{"standard", 500000, "CNY", NewSet(fp, pw), 1},
		{"standard", 500001, "CNY", NewSet(fp, pw, otp), 2},
		{"standard", math.MaxInt64, "CNY", NewSet(fp, pw, otp), 2},
		{"standard", 10000, "USD", NewSet(fp), 0},
		{"standard", 10001, "USD", NewSet(fp, pw), 1},
		{"standard", 100001, "USD", NewSet(fp, pw, otp), 2},
		{"platinum", 1, "CNY", NewSet(fp, pw), 0},
		{"platinum", 500000, "CNY", NewSet(fp, pw), 0},
		{"platinum", 500001, "CNY", NewSet(fp, pw, otp), 1},
		{"platinum", 5000000, "CNY", NewSet(fp, pw, otp), 1},
		{"platinum", 5000001, "CNY", NewSet(fp, pw, otp, sh), 2},
	} {
		d, err := p.Decide(c.tier, c.amount, c.currency)
		require.NoError(t, err, "%+v", c)
		assert.Equal(t, c.want, d.Required, "%s %d %s", c.tier, c.amount, c.currency)
		assert.Equal(t, c.band, d.Band, "%s %d %s", c.tier, c.amount, c.currency)
	}
	// Seed 003's three examples: 1, 2 and 3 factors.
	for i, amount := range []int64{2000, 200000, 2000000} {
		d, err := p.Decide("standard", amount, "CNY")
		require.NoError(t, err)
		assert.Equal(t, i+1, d.Required.Len())
	}
}

func TestDecideRefuses(t *testing.T) {
	p := seedPolicy(t)
	for _, c := range []struct {
		tier     string
		amount   int64
		currency string
		want     error
	}{
		{"gold", 100, "CNY", ErrUnknownTier},
		{"", 100, "CNY", ErrUnknownTier},
		{"platinum", 100, "USD", ErrUnknownCurrency},
		{"standard", 100, "cny", ErrUnknownCurrency},
		{"standard", 0, "CNY", ErrAmount},
		{"standard", -5, "CNY", ErrAmount},
	} {
		_, err := p.Decide(c.tier, c.amount, c.currency)
		require.ErrorIs(t, err, c.want, "%+v", c)
	}
	var zero Policy
	_, err := zero.Decide("standard", 1, "CNY")
	require.ErrorIs(t, err, ErrUnknownTier, "the zero policy refuses everything")
}

func TestCheck(t *testing.T) {
	all := NewSet(Fingerprint, Password, OTP)
	require.NoError(t, Check(all, all))
	require.NoError(t, Check(NewSet(Fingerprint), all), "extra factors are fine")
	require.NoError(t, Check(0, 0))
	err := Check(all, NewSet(Fingerprint))
	require.ErrorIs(t, err, ErrMissingFactors)
	var me *MissingError
	require.True(t, errors.As(err, &me))
	assert.Equal(t, NewSet(Password, OTP), me.Missing)
	assert.Equal(t, "policy: missing password+otp (required fingerprint+password+otp, satisfied fingerprint)", err.Error())
	err = Check(NewSet(Shield), NewSet(Fingerprint, Password, OTP))
	require.True(t, errors.As(err, &me))
	assert.Equal(t, NewSet(Shield), me.Missing)
}

func TestSetString(t *testing.T) {
	assert.Equal(t, "none", Set(0).String())
	assert.Equal(t, "fingerprint+password+otp+shield", NewSet(Shield, OTP, Password, Fingerprint).String())
	assert.Equal(t, "otp", OTP.String())
	assert.Equal(t, []Factor{Password, Shield}, NewSet(Shield, Password).Factors())
	for _, n := range factorNames {
		f, ok := ParseFactor(n.name)
		require.True(t, ok)
		assert.Equal(t, n.f, f)
	}
	_, ok := ParseFactor("Fingerprint")
	assert.False(t, ok, "names are case-sensitive")
}

// TestGolden: the canonical form of each testdata/*.policy is its
// .golden, and parsing the canonical form gives the same policy.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.policy")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		p, err := Parse(b)
		require.NoError(t, err, f)
		got := p.String()
		golden := strings.TrimSuffix(f, ".policy") + ".golden"
		if *update {
			require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), got, golden)
		again, err := Parse([]byte(got))
		require.NoError(t, err)
		assert.Equal(t, got, again.String())
		assert.Equal(t, len(p.Rules()), len(again.Rules()))
	}
}

func TestParseErrors(t *testing.T) {
	const h = "fpemu-policy 1\n"
	for _, c := range []struct {
		name        string
		text        string
		err         error
		line, field int
	}{
		{"empty", "", ErrHeader, 1, 0},
		{"only comments", "# x\n\n", ErrHeader, 3, 0},
		{"bad magic", "fpemu-polcy 1\n", ErrHeader, 1, 1},
		{"header extra", "fpemu-policy 1 x\n", ErrHeader, 1, 1},
		{"version text", "fpemu-policy one\n", ErrHeader, 1, 2},
		{"version leading zero", "fpemu-policy 01\n", ErrHeader, 1, 2},
		{"version 2", "fpemu-policy 2\nrule a CNY * otp\n", ErrVersion, 1, 2},
		{"no rules", h, ErrEmpty, 2, 0},
		{"keyword", h + "rules a CNY * otp\n", ErrSyntax, 2, 1},
		{"rule before header", "rule a CNY * otp\n" + h, ErrHeader, 1, 1},
		{"too few fields", h + "rule a CNY *\n", ErrSyntax, 2, 0},
		{"too many fields", h + "rule a CNY * otp password\n", ErrSyntax, 2, 0},
		{"tier upper", h + "rule Gold CNY * otp\n", ErrTier, 2, 2},
		{"tier digit first", h + "rule 1a CNY * otp\n", ErrTier, 2, 2},
		{"tier long", h + "rule " + strings.Repeat("a", 33) + " CNY * otp\n", ErrTier, 2, 2},
		{"currency lower", h + "rule a cny * otp\n", ErrCurrency, 2, 3},
		{"currency long", h + "rule a CNYY * otp\n", ErrCurrency, 2, 3},
		{"bound zero", h + "rule a CNY 0 otp\n", ErrBound, 2, 4},
		{"bound negative", h + "rule a CNY -1 otp\n", ErrBound, 2, 4},
		{"bound plus", h + "rule a CNY +5 otp\n", ErrBound, 2, 4},
		{"bound leading zero", h + "rule a CNY 05 otp\n", ErrBound, 2, 4},
		{"bound decimal", h + "rule a CNY 5.00 otp\n", ErrBound, 2, 4},
		{"bound overflow", h + "rule a CNY 9223372036854775808 otp\n", ErrBound, 2, 4},
		{"bound max", h + "rule a CNY 9223372036854775807 otp\n", ErrBound, 2, 4},
		{"factor unknown", h + "rule a CNY * face\n", ErrFactor, 2, 5},
		{"factor twice", h + "rule a CNY * otp+otp\n", ErrFactor, 2, 5},
		{"factor empty", h + "rule a CNY * otp+\n", ErrFactor, 2, 5},
		{"factor comma", h + "rule a CNY * otp,password\n", ErrFactor, 2, 5},
		{"not increasing", h + "rule a CNY 10 otp\nrule a CNY 10 otp\nrule a CNY * otp\n", ErrOrder, 3, 4},
		{"decreasing", h + "rule a CNY 10 otp\nrule a CNY 9 otp\n", ErrOrder, 3, 4},
		{"after unbounded", h + "rule a CNY * otp\nrule a CNY 10 otp\n", ErrOrder, 3, 4},
		{"two unbounded", h + "rule a CNY * otp\nrule a CNY * otp\n", ErrOrder, 3, 4},
		{"no final star", h + "rule a CNY 10 otp\nrule a USD * otp\n", ErrCoverage, 2, 4},
		{"drops a factor", h + "rule a CNY 10 fingerprint+otp\nrule a CNY * password+otp\n", ErrNotMonotonic, 3, 5},
		{"control byte", h + "rule a CNY * otp\x00\n", ErrEncoding, 2, 0},
		{"utf8 in comment", h + "# \u2264\nrule a CNY * otp\n", ErrEncoding, 2, 0},
		{"long line", h + "#" + strings.Repeat("x", MaxLineLen) + "\n", ErrTooLarge, 2, 0},
		{"file too large", strings.Repeat("#\n", MaxFileSize), ErrTooLarge, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.text))
			require.Nil(t, p, "never a partial result")
			require.ErrorIs(t, err, c.err)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, c.line, pe.Line, err.Error())
			assert.Equal(t, c.field, pe.Field, err.Error())
		})
	}
}

func TestParseAccepts(t *testing.T) {
	// CRLF, tabs, trailing comments, interleaved tiers and currencies.
	p, err := Parse([]byte("fpemu-policy 1\r\n\trule a CNY 5 otp # x\r\nrule b USD * shield\r\nrule a CNY * otp+fingerprint\r\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, p.Tiers())
	assert.Equal(t, 1, p.Version())
	d, err := p.Decide("a", 6, "CNY")
	require.NoError(t, err)
	assert.Equal(t, NewSet(Fingerprint, OTP), d.Required)
	assert.Equal(t, Unbounded, d.UpTo)
}

func TestTooManyRules(t *testing.T) {
	var b strings.Builder
	b.WriteString("fpemu-policy 1\n")
	for i := 1; i <= MaxRules; i++ {
		fmt.Fprintf(&b, "rule a CNY %d otp\n", i)
	}
	b.WriteString("rule a CNY * otp\n")
	_, err := Parse([]byte(b.String()))
	require.ErrorIs(t, err, ErrTooLarge)
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, MaxRules+2, pe.Line)
}
