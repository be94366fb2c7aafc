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
	b, err := Binding(sampleSummary())
	require.NoError(t, err)
	out["binding"] = b
	return out
}

func parse(name string, b []byte) (any, error) {
	switch strings.TrimSuffix(name, "-refused") {
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
