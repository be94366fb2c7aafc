package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzParse checks a decoder: no panic, and an accepted input re-encodes
// to exactly itself (canonical, no partial result).
func fuzzParse[M interface{ Marshal() ([]byte, error) }](f *testing.F, seed string, parse func([]byte) (M, error)) {
	f.Add(samples(f)[seed])
	f.Add([]byte{Marker, Version})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parse(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := m.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

func FuzzParseRegister(f *testing.F)  { fuzzParse(f, "register", ParseRegister) }
func FuzzParsePayIntent(f *testing.F) { fuzzParse(f, "pay-intent", ParsePayIntent) }
func FuzzParseResult(f *testing.F)    { fuzzParse(f, "result", ParseResult) }
func FuzzParseFeedback(f *testing.F)  { fuzzParse(f, "feedback", ParseFeedback) }
func FuzzParseSummary(f *testing.F)   { fuzzParse(f, "summary", ParseSummary) }
func FuzzParseChallengeRequest(f *testing.F) {
	fuzzParse(f, "challenge-request", ParseChallengeRequest)
}
func FuzzParseStatusRequest(f *testing.F) { fuzzParse(f, "status", ParseStatusRequest) }
func FuzzParseChallenge(f *testing.F) {
	fuzzParse(f, "challenge", func(b []byte) (Challenge, error) { m, _, err := ParseChallenge(b); return m, err })
}

func FuzzParsePayIntent2(f *testing.F)     { fuzzParse(f, "pay-intent-2", ParsePayIntent2) }
func FuzzParseOTPEnroll(f *testing.F)      { fuzzParse(f, "otp-enroll", ParseOTPEnroll) }
func FuzzParseOTPSeed(f *testing.F)        { fuzzParse(f, "otp-seed", ParseOTPSeed) }
func FuzzParseSignedFeedback(f *testing.F) { fuzzParse(f, "signed-feedback", ParseSignedFeedback) }
func FuzzParseSummary2(f *testing.F)       { fuzzParse(f, "summary-2", ParseSummary) }
