package matcher

import (
	"encoding"
	"errors"
)

// Template is an enrolled reference in a matcher's own format. The TA never
// looks inside: it stores MarshalBinary's bytes sealed and hands them back to
// the same matcher's ParseTemplate.
type Template interface {
	encoding.BinaryMarshaler
}

// Matcher is what a vendor implements to plug their comparison algorithm
// into the fingerprint TA. Implementations must be safe for concurrent use
// and deterministic: the same inputs give the same template bytes and the
// same score.
type Matcher interface {
	// Name identifies the algorithm (and its template format) in logs
	// and benchmark reports.
	Name() string
	// Enroll merges the samples of one finger into a template. It fails
	// with an error matching ErrEnroll if the samples cannot be merged
	// (too few minutiae, or samples that do not overlap one another).
	Enroll(samples []Sample) (Template, error)
	// Match compares a probe with a template and returns a similarity
	// score: higher is more similar; the probe is accepted when the score
	// reaches Threshold. A template not made by this matcher yields
	// ErrForeignTemplate.
	Match(t Template, probe Sample) (float64, error)
	// Threshold is the operating point: the lowest accepted score.
	Threshold() float64
	// ParseTemplate decodes MarshalBinary's bytes, strictly.
	ParseTemplate(b []byte) (Template, error)
}

// PreparedProbe is a probe made ready for comparison by a ProbePreparer;
// only the matcher that made it can use it.
type PreparedProbe any

// ProbePreparer is optionally implemented by a Matcher whose comparison
// derives data from the probe alone: the fingerprint TA then prepares each
// capture once and compares it with every template of the group, instead
// of letting Match derive the same data once per template.
// MatchPrepared(t, p) must return exactly what Match(t, s) returns for the
// sample s that p was prepared from (same score, bit for bit); a
// PrepareProbe error is the error Match would return for s with a
// template of this matcher.
type ProbePreparer interface {
	PrepareProbe(probe Sample) (PreparedProbe, error)
	MatchPrepared(t Template, probe PreparedProbe) (float64, error)
}

// Errors shared by matchers.
var (
	// ErrEnroll is matched by every enrollment failure.
	ErrEnroll = errors.New("matcher: enrollment failed")
	// ErrForeignTemplate is returned by Match for a template of another
	// matcher.
	ErrForeignTemplate = errors.New("matcher: template of another matcher")
	// ErrForeignProbe is returned by MatchPrepared for a probe another
	// matcher prepared.
	ErrForeignProbe = errors.New("matcher: probe prepared by another matcher")
)

// Decision is the outcome of Verify.
type Decision struct {
	Score    float64
	Accepted bool
}

// Verify matches probe against t with m and applies m's threshold.
func Verify(m Matcher, t Template, probe Sample) (Decision, error) {
	s, err := m.Match(t, probe)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Score: s, Accepted: s >= m.Threshold()}, nil
}
