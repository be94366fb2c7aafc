package matcher

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

// Enrollment parameters.
const (
	// MinTemplateMinutiae is the fewest minutiae an enrolled template may
	// keep.
	MinTemplateMinutiae = sensorproto.MinUsableMinutiae
	// enrollMinPairs is the fewest minutiae a sample must share with the
	// template built so far to be merged into it.
	enrollMinPairs = 5
	// enrollScoreShare of the threshold is the score a sample needs to be
	// merged: the samples of one enrollment come from one authenticated
	// user, so merging may be more lenient than accepting.
	enrollScoreShare = 0.75
	// templateCoordLimit keeps merged coordinates inside the codec range.
	templateCoordLimit = 8000
)

// cluster accumulates the observations of one minutia across samples, in
// the frame of the first sample.
type cluster struct {
	sx, sy, sc, ss, sq float64
	seen               int
	votes              [3]int // by Kind
	first              Kind
}

func (c *cluster) add(x, y, a float64, k Kind, q uint8) {
	if c.seen == 0 {
		c.first = k
	}
	s, co := math.Sincos(a)
	c.sx, c.sy, c.sc, c.ss, c.sq = c.sx+x, c.sy+y, c.sc+co, c.ss+s, c.sq+float64(q)
	c.seen++
	c.votes[k]++
}

func (c *cluster) minutia() Minutia {
	n := float64(c.seen)
	k := c.first
	if c.votes[RidgeEnding] > c.votes[Bifurcation] {
		k = RidgeEnding
	} else if c.votes[Bifurcation] > c.votes[RidgeEnding] {
		k = Bifurcation
	}
	return Minutia{
		X: c.sx / n, Y: c.sy / n,
		Angle:   NormAngle(math.Atan2(c.ss, c.sc)),
		Kind:    k,
		Quality: uint8(math.Round(c.sq / n)),
	}
}

// Enroll implements Matcher. The first sample fixes the template frame.
// Every other sample is aligned to the template merged so far (it must
// match it at the matcher's threshold, sharing at least enrollMinPairs
// minutiae); samples that do not yet overlap are retried after the others,
// so a finger can be enrolled by moving it around. Paired minutiae are
// averaged, the others added. At least half the samples must merge. Finally
// a minutia is kept only if it was seen in at least half of the merged
// windows that cover it, which drops the sensor's spurious minutiae.
func (m *Minutiae) Enroll(samples []Sample) (Template, error) {
	if len(samples) == 0 || len(samples) > MaxTemplateWindows {
		return nil, fmt.Errorf("%w: %d samples, want 1..%d", ErrEnroll, len(samples), MaxTemplateWindows)
	}
	for i, s := range samples {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%w: sample %d: %w", ErrEnroll, i, err)
		}
	}
	var clusters []cluster
	for _, mn := range samples[0].Minutiae {
		var c cluster
		c.add(mn.X, mn.Y, mn.Angle, mn.Kind, mn.Quality)
		clusters = append(clusters, c)
	}
	windows := []Window{{Width: samples[0].Width, Height: samples[0].Height}}
	pending := make([]int, 0, len(samples)-1)
	for i := 1; i < len(samples); i++ {
		pending = append(pending, i)
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		rest := pending[:0]
		for _, si := range pending {
			if !m.merge(&clusters, &windows, samples[si]) {
				rest = append(rest, si)
				continue
			}
			progress = true
		}
		pending = rest
	}
	if merged := len(windows); 2*merged < len(samples) {
		return nil, fmt.Errorf("%w: only %d of %d samples could be aligned and merged", ErrEnroll, merged, len(samples))
	}
	ms := keepConsistent(clusters, windows)
	if len(ms) < MinTemplateMinutiae {
		return nil, fmt.Errorf("%w: %d consistent minutiae, need %d", ErrEnroll, len(ms), MinTemplateMinutiae)
	}
	t, err := NewMinutiaeTemplate(ms, windows)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEnroll, err)
	}
	return t, nil
}

// merge aligns sample s onto the clusters and, if it matches, folds it in.
func (m *Minutiae) merge(clusters *[]cluster, windows *[]Window, s Sample) bool {
	cs := *clusters
	ms := make([]Minutia, len(cs))
	for i := range cs {
		ms[i] = cs[i].minutia()
	}
	if len(s.Minutiae) < minProbeMinutiae || len(ms) == 0 {
		return false
	}
	res, ok := m.compare(prepare(s.Minutiae), prepareTemplate(ms), placeWindows(*windows), s.Width, s.Height, true)
	if !ok || res.pairs < enrollMinPairs || res.score < enrollScoreShare*m.threshold {
		return false
	}
	r := res.align
	w := Window{X: r.tx, Y: r.ty, Angle: r.theta, Width: s.Width, Height: s.Height}
	for _, c := range [][2]float64{{0, 0}, {float64(s.Width), 0}, {0, float64(s.Height)}, {float64(s.Width), float64(s.Height)}} {
		x, y := r.apply(c[0], c[1])
		if math.Abs(x) > templateCoordLimit || math.Abs(y) > templateCoordLimit {
			return false
		}
	}
	pairedTo := make([]int, len(s.Minutiae))
	for i := range pairedTo {
		pairedTo[i] = -1
	}
	for _, p := range res.paired {
		pairedTo[p.i] = p.j
	}
	for i, mn := range s.Minutiae {
		x, y := r.apply(mn.X, mn.Y)
		a := NormAngle(mn.Angle + r.theta)
		if j := pairedTo[i]; j >= 0 {
			cs[j].add(x, y, a, mn.Kind, mn.Quality)
			continue
		}
		var c cluster
		c.add(x, y, a, mn.Kind, mn.Quality)
		cs = append(cs, c)
	}
	*clusters = cs
	*windows = append(*windows, w)
	return true
}

// keepConsistent keeps the minutiae seen in at least half of the windows
// covering them, at most MaxTemplateMinutiae of them (most often seen
// first, then best quality).
func keepConsistent(cs []cluster, windows []Window) []Minutia {
	type kept struct {
		m    Minutia
		seen int
	}
	var ks []kept
	pws := placeWindows(windows)
	for i := range cs {
		mn := cs[i].minutia()
		cover := 0
		for k := range pws {
			if pws[k].contains(mn.X, mn.Y) {
				cover++
			}
		}
		if 2*cs[i].seen >= cover {
			ks = append(ks, kept{m: mn, seen: cs[i].seen})
		}
	}
	slices.SortStableFunc(ks, func(a, b kept) int {
		if c := cmp.Compare(b.seen, a.seen); c != 0 {
			return c
		}
		return cmp.Compare(b.m.Quality, a.m.Quality)
	})
	if len(ks) > MaxTemplateMinutiae {
		ks = ks[:MaxTemplateMinutiae]
	}
	out := make([]Minutia, len(ks))
	for i, k := range ks {
		out[i] = k.m
	}
	// A canonical order that does not reveal enrollment order.
	slices.SortFunc(out, func(a, b Minutia) int {
		if c := cmp.Compare(a.Y, b.Y); c != 0 {
			return c
		}
		return cmp.Compare(a.X, b.X)
	})
	return out
}
