package wire

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

const orderID = "0123456789abcdef0123456789abcdef"

func sampleSummary() Summary {
	return Summary{Challenge: 0x1122334455667788, ExpiresMs: 1_700_000_120_000, OrderID: orderID,
		Device: proof.DeviceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Payee:  "coffee-shop-7", Amount: 1250, Currency: "CNY", Text: "2 × flat white"}
}

// samples returns one canonical encoding of every message type.
func samples(t testing.TB) map[string][]byte {
	sum, err := sampleSummary().Marshal()
	require.NoError(t, err)
	out := map[string][]byte{}
	for name, m := range map[string]interface{ Marshal() ([]byte, error) }{
		"register":          Register{Device: []byte{0, 0, 0, 1, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, App: []byte{2}, Scene: []byte{3}, FingerIDs: []uint32{1, 7}},
		"challenge-request": ChallengeRequest{OrderID: orderID},
		"status":            StatusRequest{OrderID: orderID},
		"pay-intent":        PayIntent{RequestID: []byte("req-1"), OrderID: orderID, Challenge: 0x1122334455667788},
		"result":            Result{Rule: RuleNotAttested, Detail: "device key not in the device roots"},
		"challenge":         Challenge{Summary: sum, Signature: make([]byte, 71)},
		"feedback":          Feedback{Rule: RuleOK, OrderID: orderID, RequestID: []byte("req-1"), EntryID: 42, Counter: 9, StatementHash: [32]byte{0xaa}},
		"feedback-refused":  Feedback{Rule: RuleCounter, OrderID: orderID, RequestID: []byte("req-2"), Detail: "counter 3, last 9"},
	} {
		b, err := m.Marshal()
		require.NoError(t, err, name)
		out[name] = b
	}
	out["summary"] = sum
	s2 := sampleSummary()
	s2.Tier, s2.Required = "standard", policy.NewSet(policy.Fingerprint, policy.Password, policy.OTP)
	sum2, err := s2.Marshal()
	require.NoError(t, err)
	out["summary-2"] = sum2
	fb := Feedback{Rule: RuleOK, OrderID: orderID, RequestID: []byte("req-3"), EntryID: 43, Counter: 10, StatementHash: [32]byte{0xbb}}
	for name, m := range map[string]interface{ Marshal() ([]byte, error) }{
		"challenge-2":     Challenge{Summary: sum2, Signature: make([]byte, 71)},
		"pay-intent-2":    PayIntent2{PayIntent: PayIntent{RequestID: []byte("req-3"), OrderID: orderID, Challenge: 0x1122334455667788}, OTPCode: "123456", ShieldRef: []byte("ps-1")},
		"otp-enroll":      OTPEnroll{AppID: "com.example.wallet", Scene: "pay"},
		"otp-seed":        OTPSeed{Algorithm: "sm3", Digits: 6, PeriodSeconds: 60, Seed: []byte("0123456789abcdef0123456789abcdef")},
		"signed-feedback": SignedFeedback{Feedback: fb, Decision: Decision{Tier: "standard", Required: s2.Required, Satisfied: s2.Required}, Signature: make([]byte, 70)},
		"signed-feedback-refused": SignedFeedback{Feedback: Feedback{Rule: RuleFactors, OrderID: orderID, RequestID: []byte("req-4"), Detail: "missing password+otp"},
			Decision: Decision{Tier: "standard", Required: s2.Required, Satisfied: policy.NewSet(policy.Fingerprint)}, Signature: make([]byte, 70)},
	} {
		b, err := m.Marshal()
		require.NoError(t, err, name)
		out[name] = b
	}
	b, err := Binding(sampleSummary())
	require.NoError(t, err)
	out["binding"] = b
	return out
}

func parse(name string, b []byte) (any, error) {
	if name == "pay-intent-2" {
		return ParsePayIntent2(b)
	}
	switch strings.TrimSuffix(strings.TrimSuffix(name, "-refused"), "-2") {
	case "register":
		return ParseRegister(b)
	case "challenge-request":
		return ParseChallengeRequest(b)
	case "status":
		return ParseStatusRequest(b)
	case "pay-intent":
		return ParsePayIntent(b)
	case "result":
		return ParseResult(b)
	case "challenge":
		m, _, err := ParseChallenge(b)
		return m, err
	case "feedback":
		return ParseFeedback(b)
	case "summary":
		return ParseSummary(b)
	case "otp-enroll":
		return ParseOTPEnroll(b)
	case "otp-seed":
		return ParseOTPSeed(b)
	case "signed-feedback":
		return ParseSignedFeedback(b)
	}

	return nil, nil
}

func TestRoundTripAndStrictness(t *testing.T) {
	for name, b := range samples(t) {
		if name == "binding" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := parse(name, b)
			require.NoError(t, err)
			again, err := m.(interface{ Marshal() ([]byte, error) }).Marshal()
			require.NoError(t, err)
			assert.Equal(t, b, again, "canonical")
			// Every truncation and one trailing byte are refused with the zero value.
			for i := 0; i < len(b); i++ {
				v, err := parse(name, b[:i])
				require.ErrorIs(t, err, ErrMalformed, "prefix %d", i)
				assert.Zero(t, v)
			}
			_, err = parse(name, append(append([]byte{}, b...), 0))
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestRefusals(t *testing.T) {
	s := sampleSummary()
	bad := func(f func(*Summary)) Summary { c := s; f(&c); return c }
	for name, m := range map[string]interface{ Marshal() ([]byte, error) }{
		"order id upper":            ChallengeRequest{OrderID: strings.ToUpper(orderID)},
		"order id short":            ChallengeRequest{OrderID: "abc"},
		"fingers unsorted":          Register{Device: []byte{1}, App: []byte{1}, Scene: []byte{1}, FingerIDs: []uint32{3, 2}},
		"finger zero":               Register{Device: []byte{1}, App: []byte{1}, Scene: []byte{1}, FingerIDs: []uint32{0}},
		"no fingers":                Register{Device: []byte{1}, App: []byte{1}, Scene: []byte{1}},
		"empty cert":                Register{App: []byte{1}, Scene: []byte{1}, FingerIDs: []uint32{1}},
		"intent challenge 0":        PayIntent{RequestID: []byte("r"), OrderID: orderID},
		"intent no request":         PayIntent{OrderID: orderID, Challenge: 1},
		"intent long request":       PayIntent{RequestID: make([]byte, 65), OrderID: orderID, Challenge: 1},
		"result unknown rule":       Result{Rule: 999},
		"result control":            Result{Rule: RuleMalformed, Detail: "a\nb"},
		"summary amount 0":          bad(func(s *Summary) { s.Amount = 0 }),
		"summary currency":          bad(func(s *Summary) { s.Currency = "cny" }),
		"summary bidi override":     bad(func(s *Summary) { s.Payee = "shop\u202egnp" }),
		"summary payee empty":       bad(func(s *Summary) { s.Payee = "" }),
		"summary not utf8":          bad(func(s *Summary) { s.Text = "\xff" }),
		"summary challenge 0":       bad(func(s *Summary) { s.Challenge = 0 }),
		"feedback ok no entry":      Feedback{Rule: RuleOK, OrderID: orderID},
		"feedback refused entry":    Feedback{Rule: RuleCounter, OrderID: orderID, EntryID: 3},
		"feedback replayed refusal": Feedback{Rule: RuleCounter, OrderID: orderID, Replayed: true},
		"challenge short sig":       Challenge{Summary: samples(t)["summary"], Signature: []byte{1}},
		"summary tier no factors":   bad(func(s *Summary) { s.Tier = "standard" }),
		"summary factors no tier":   bad(func(s *Summary) { s.Required = policy.NewSet(policy.OTP) }),
		"summary unknown factor":    bad(func(s *Summary) { s.Tier, s.Required = "standard", 0x80 }),
		"summary tier syntax":       bad(func(s *Summary) { s.Tier, s.Required = "Gold", 1 }),
		"intent2 code short":        PayIntent2{PayIntent: PayIntent{RequestID: []byte("r"), OrderID: orderID, Challenge: 1}, OTPCode: "12345"},
		"intent2 code not digits":   PayIntent2{PayIntent: PayIntent{RequestID: []byte("r"), OrderID: orderID, Challenge: 1}, OTPCode: "12345a"},
		"intent2 shield long":       PayIntent2{PayIntent: PayIntent{RequestID: []byte("r"), OrderID: orderID, Challenge: 1}, ShieldRef: make([]byte, 65)},
		"otp enroll no app":         OTPEnroll{Scene: "pay"},
		"otp seed short":            OTPSeed{Algorithm: "sm3", Digits: 6, PeriodSeconds: 60, Seed: make([]byte, 15)},
		"otp seed digits":           OTPSeed{Algorithm: "sm3", Digits: 9, PeriodSeconds: 60, Seed: make([]byte, 16)},
		"otp seed period":           OTPSeed{Algorithm: "sm3", Digits: 6, PeriodSeconds: 61, Seed: make([]byte, 16)},
		"signed feedback booked missing": SignedFeedback{Feedback: Feedback{Rule: RuleOK, OrderID: orderID, EntryID: 1},
			Decision: Decision{Tier: "standard", Required: 3, Satisfied: 1}, Signature: make([]byte, 70)},
		"signed feedback no sig": SignedFeedback{Feedback: Feedback{Rule: RuleOK, OrderID: orderID, EntryID: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := m.Marshal()
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, b)
		})
	}
	// A wrong version or type byte is refused by every parser.
	b := samples(t)["pay-intent"]
	for _, i := range []int{0, 1, 2} {
		c := append([]byte{}, b...)
		c[i] ^= 0x40
		_, err := ParsePayIntent(c)
		require.ErrorIs(t, err, ErrMalformed)
	}
	_, err := PeekType([]byte{Marker, 2, 1})
	require.ErrorIs(t, err, ErrMalformed)
	typ, err := PeekType(b)
	require.NoError(t, err)
	assert.Equal(t, TypePayIntent, typ)
}

// TestStatementIsNoMessage: a signed statement (proof.Signed) is never
// taken for a message of this package.
func TestStatementIsNoMessage(t *testing.T) {
	signed, err := proof.Signed{Body: make([]byte, proof.MaxBodySize), Signature: make([]byte, 72)}.Marshal()
	require.NoError(t, err)
	assert.False(t, IsMessage(signed))
	assert.True(t, IsMessage(samples(t)["feedback"]))
}

// TestGolden: the encodings of docs/protocol.md §14 examples, recorded once.
func TestGolden(t *testing.T) {
	var lines []string
	for name, b := range samples(t) {
		lines = append(lines, name+" "+hex.EncodeToString(b))
	}
	sortStrings(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestSummaryVersions: a summary without a decision is version 1 (its
// bytes unchanged); with one, version 2 = version 1 ‖ s8 tier ‖ u8
// factors; the binding the TA signs is the same for both.
func TestSummaryVersions(t *testing.T) {
	v1, v2 := samples(t)["summary"], samples(t)["summary-2"]
	assert.Equal(t, byte(Version), v1[0])
	assert.Equal(t, byte(SummaryVersion2), v2[0])
	assert.Equal(t, v1[1:], v2[1:len(v1)])
	assert.Equal(t, append([]byte{8}, "standard\x07"...), v2[len(v1):])
	s, err := ParseSummary(v2)
	require.NoError(t, err)
	b1, err := Binding(sampleSummary())
	require.NoError(t, err)
	b2, err := Binding(s)
	require.NoError(t, err)
	assert.Equal(t, b1, b2)
	d := Decision{Required: 7, Satisfied: 3}
	assert.Equal(t, policy.NewSet(policy.OTP), d.Missing())
}
