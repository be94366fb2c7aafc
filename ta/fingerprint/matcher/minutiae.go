package matcher

import (
	"fmt"
	"math"
	"sync"
)

// Name of the reference matcher and its template format.
const MinutiaeName = "fpemu-minutiae-v1"

// DefaultThreshold is the reference matcher's operating point, calibrated
// with `fpemu eval matcher` on the synthetic population of sim/finger so
// that FAR ≤ 1/50,000 (Android CDD §7.3.10, strong biometric: false
// acceptance rate not higher than 0.002 %) with FRR ≤ 5 %; see
// docs/benchmarks.md.
const DefaultThreshold = 24

// Score normalisation.
const (
	// minOverlap is the fewest minutiae an overlap is counted as having
	// when normalising, so that a tiny overlap with a handful of chance
	// pairs cannot score high.
	minOverlap = 12
	// minProbeMinutiae: probes with fewer minutiae score 0.
	minProbeMinutiae = 4
)

// Minutiae is fpemu's reference matcher. Its zero value is not usable;
// call NewMinutiae. It is safe for concurrent use.
type Minutiae struct {
	threshold float64
	pool      sync.Pool
}

var _ Matcher = (*Minutiae)(nil)

// NewMinutiae returns the reference matcher operating at threshold; a
// threshold ≤ 0 selects DefaultThreshold.
func NewMinutiae(threshold float64) *Minutiae {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	m := &Minutiae{threshold: threshold}
	m.pool.New = func() any { return new(scratch) }
	return m
}

// Name implements Matcher.
func (m *Minutiae) Name() string { return MinutiaeName }

// Threshold implements Matcher.
func (m *Minutiae) Threshold() float64 { return m.threshold }

// ParseTemplate implements Matcher with ParseMinutiaeTemplate.
func (m *Minutiae) ParseTemplate(b []byte) (Template, error) {
	t, err := ParseMinutiaeTemplate(b)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Match implements Matcher. The score is 0..100: the square of the number
// of paired minutiae over the product of the probe's and the template's
// minutia counts in their overlap (each at least minOverlap), times 100.
// It is MatchPrepared(t, PrepareProbe(probe)), with the template checked
// first.
func (m *Minutiae) Match(tt Template, probe Sample) (float64, error) {
	t, err := minutiaeTemplate(tt)
	if err != nil {
		return 0, err
	}
	pp, err := m.prepareProbe(probe)
	if err != nil {
		return 0, err
	}
	return m.matchPrepared(t, &pp), nil
}

// minutiaeProbe is a probe prepared by PrepareProbe: its local structures,
// computed once whatever the number of templates it is compared with.
type minutiaeProbe struct {
	p    *prepared // nil: fewer than minProbeMinutiae minutiae (scores 0)
	w, h int
}

// PrepareProbe implements ProbePreparer: it validates probe and derives
// its local structures (the part of a comparison that depends on the
// probe alone, about a fifth of Match's time).
func (m *Minutiae) PrepareProbe(probe Sample) (PreparedProbe, error) {
	pp, err := m.prepareProbe(probe)
	if err != nil {
		return nil, err
	}
	return &pp, nil
}

func (m *Minutiae) prepareProbe(probe Sample) (minutiaeProbe, error) {
	if err := probe.Validate(); err != nil {
		return minutiaeProbe{}, err
	}
	if len(probe.Minutiae) < minProbeMinutiae {
		return minutiaeProbe{}, nil
	}
	return minutiaeProbe{p: prepare(probe.Minutiae), w: probe.Width, h: probe.Height}, nil
}

// MatchPrepared implements ProbePreparer: Match of the probe pp was
// prepared from, bit for bit (TestMatchPreparedIsMatch).
func (m *Minutiae) MatchPrepared(tt Template, pp PreparedProbe) (float64, error) {
	t, err := minutiaeTemplate(tt)
	if err != nil {
		return 0, err
	}
	p, ok := pp.(*minutiaeProbe)
	if !ok || p == nil {
		return 0, fmt.Errorf("%w: %T", ErrForeignProbe, pp)
	}
	return m.matchPrepared(t, p), nil
}

func minutiaeTemplate(tt Template) (*MinutiaeTemplate, error) {
	t, ok := tt.(*MinutiaeTemplate)
	if !ok || t == nil || len(t.minutiae) == 0 {
		return nil, fmt.Errorf("%w: %T", ErrForeignTemplate, tt)
	}
	return t, nil
}

func (m *Minutiae) matchPrepared(t *MinutiaeTemplate, pp *minutiaeProbe) float64 {
	if pp.p == nil {
		return 0
	}
	tp := t.prep
	if tp == nil {
		tp = prepareTemplate(t.minutiae)
	}
	res, found := m.compare(pp.p, tp, t.placed(), pp.w, pp.h, false)
	if !found {
		return 0
	}
	return res.score
}

// compare aligns p onto t and scores the best alignment.
func (m *Minutiae) compare(p, t *prepared, windows []placedWindow, w, h int, keepPairs bool) (result, bool) {
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	return align(p, t, sc, func(r rigid, weight float64, pairs int) (inP, inT int, s float64) {
		inP, inT = overlap(p, t, r, windows, w, h)
		return inP, inT, score(weight, pairs, inP, inT)
	}, keepPairs)
}

// overlap counts the probe minutiae that fall inside the template's
// enrolled windows and the template minutiae that fall inside the probe's
// sensor window, under alignment r.
func overlap(p, t *prepared, r rigid, windows []placedWindow, w, h int) (inP, inT int) {
	for _, mp := range p.m {
		x, y := r.apply(mp.X, mp.Y)
		for k := range windows {
			if windows[k].contains(x, y) {
				inP++
				break
			}
		}
	}
	fw, fh := float64(w), float64(h)
	for _, mt := range t.m {
		x, y := r.inverse(mt.X, mt.Y)
		if x >= 0 && x < fw && y >= 0 && y < fh {
			inT++
		}
	}
	return inP, inT
}

// scoreBound is the highest score a weight can reach, with the smallest
// overlap score allows.
func scoreBound(weight float64, pairs int) float64 {
	return score(weight, pairs, 0, 0)
}

func score(weight float64, pairs, inP, inT int) float64 {
	a, b := max(inP, minOverlap, pairs), max(inT, minOverlap, pairs)
	return 100 * weight * weight / float64(a*b)
}

// Detail explains a comparison: the best alignment found and the counts
// behind its score.
type Detail struct {
	Score float64
	// Pairs is the number of paired minutiae, KindAgree how many of them
	// have the same kind on both sides.
	Pairs, KindAgree int
	// ProbeOverlap counts the probe minutiae inside the template's
	// enrolled windows, TemplateOverlap the template minutiae inside the
	// probe window.
	ProbeOverlap, TemplateOverlap int
	// Rotation (radians) and TX, TY (pixels) map probe coordinates into
	// the template frame.
	Rotation, TX, TY float64
	// Residual is the root mean square distance of the pairs, in pixels.
	Residual float64
}

// Explain is Match with the details of the best alignment.
func (m *Minutiae) Explain(tt Template, probe Sample) (Detail, error) {
	t, ok := tt.(*MinutiaeTemplate)
	if !ok || t == nil || len(t.minutiae) == 0 {
		return Detail{}, fmt.Errorf("%w: %T", ErrForeignTemplate, tt)
	}
	if err := probe.Validate(); err != nil {
		return Detail{}, err
	}
	if len(probe.Minutiae) < minProbeMinutiae {
		return Detail{}, nil
	}
	tp := t.prep
	if tp == nil {
		tp = prepareTemplate(t.minutiae)
	}
	res, found := m.compare(prepare(probe.Minutiae), tp, t.placed(), probe.Width, probe.Height, true)
	if !found {
		return Detail{}, nil
	}
	d := Detail{
		Score: res.score, Pairs: res.pairs, KindAgree: res.kinds,
		ProbeOverlap: res.inP, TemplateOverlap: res.inT,
		Rotation: res.align.theta, TX: res.align.tx, TY: res.align.ty,
	}
	if len(res.paired) > 0 {
		var s float64
		for _, p := range res.paired {
			s += p.d2
		}
		d.Residual = math.Sqrt(s / float64(len(res.paired)))
	}
	return d, nil
}
