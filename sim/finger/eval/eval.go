package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

// EvalConfig describes an evaluation run.
type EvalConfig struct {
	Fingers       int           // population size, ≥ 2
	Seed          uint64        // population seed
	EnrollSamples int           // impressions merged per template (default 8)
	GenuineProbes int           // fresh impressions compared with their own template (default 10)
	Threshold     float64       // operating point; 0 means the matcher's
	Sensor        finger.Sensor // zero means finger.DefaultSensor
	Workers       int           // goroutines; 0 means GOMAXPROCS
	// Progress, if set, is told how far the run has got: after each
	// finger of each stage (StageEnroll, then StageCompare). It may be
	// called from several goroutines at once and must return quickly.
	Progress func(EvalProgress)
}

// EvalProgress is how far an evaluation has got: Done of Total fingers
// of Stage.
type EvalProgress struct {
	Stage       string
	Done, Total int
}

// The stages of Evaluate, in order.
const (
	// StageEnroll: impressions are made and each finger enrolled.
	StageEnroll = "enroll"
	// StageCompare: each enrolled finger's template is compared with its
	// genuine probes and every other finger's impostor probe.
	StageCompare = "compare"
)

// counter reports the fingers done of a stage to cfg.Progress.
func (c *EvalConfig) counter(stage string, total int) func() {
	if c.Progress == nil {
		return func() {}
	}
	c.Progress(EvalProgress{Stage: stage, Total: total})
	var done atomic.Int64
	return func() {
		c.Progress(EvalProgress{Stage: stage, Done: int(done.Add(1)), Total: total})
	}
}

// Defaults for EvalConfig.
const (
	DefaultFingers       = 500
	DefaultEnrollSamples = 8
	DefaultGenuineProbes = 10
)

// EvalResult holds the figures of a run. Every finger's first probe is also
// its impostor probe against every other finger's template, so there are
// enrolled×(Fingers−1) impostor comparisons.
type EvalResult struct {
	Matcher       string        `json:"matcher"`
	Fingers       int           `json:"fingers"`
	Seed          uint64        `json:"seed"`
	EnrollSamples int           `json:"enroll_samples"`
	GenuineProbes int           `json:"genuine_probes"`
	Sensor        finger.Sensor `json:"sensor"`
	Threshold     float64       `json:"threshold"`
	FAR           float64       `json:"far"`
	FRR           float64       `json:"frr"`
	// FARUpper95 is the one-sided 95 % Clopper–Pearson upper bound of
	// FAR. Comparisons share templates and probes, so they are not quite
	// independent and the bound is somewhat optimistic.
	FARUpper95          float64 `json:"far_upper_95"`
	FalseAccepts        int     `json:"false_accepts"`
	FalseRejects        int     `json:"false_rejects"`
	ImpostorComparisons int     `json:"impostor_comparisons"`
	GenuineComparisons  int     `json:"genuine_comparisons"`
	EnrollFailures      int     `json:"enroll_failures"`
	EER                 float64 `json:"eer"`
	MaxImpostorScore    float64 `json:"max_impostor_score"`
	// Genuine and Impostor are all the scores, ascending.
	Genuine  []float64 `json:"-"`
	Impostor []float64 `json:"-"`
}

// ErrEvalConfig is returned for an unusable configuration.
var ErrEvalConfig = errors.New("finger: invalid evaluation config")

func (c *EvalConfig) fill(m matcher.Matcher) error {
	if c.Fingers < 2 {
		return fmt.Errorf("%w: %d fingers, need at least 2", ErrEvalConfig, c.Fingers)
	}
	if c.EnrollSamples == 0 {
		c.EnrollSamples = DefaultEnrollSamples
	}
	if c.GenuineProbes == 0 {
		c.GenuineProbes = DefaultGenuineProbes
	}
	if c.EnrollSamples < 1 || c.EnrollSamples > matcher.MaxTemplateWindows || c.GenuineProbes < 1 {
		return fmt.Errorf("%w: %d enroll samples, %d probes", ErrEvalConfig, c.EnrollSamples, c.GenuineProbes)
	}
	if c.Threshold == 0 {
		c.Threshold = m.Threshold()
	}
	if c.Sensor == (finger.Sensor{}) {
		c.Sensor = finger.DefaultSensor
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c.Sensor.Validate()
}

// parallel runs fn(i) for i in [0, n) on w goroutines. Results must be
// written by index, so they do not depend on scheduling. It stops early
// when ctx is done or fn fails, returning the first error by index.
func parallel(ctx context.Context, w, n int, fn func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for i := range next {
				errs[i] = fn(i)
			}
		})
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			break feed
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Evaluate builds the population of cfg, enrolls every finger from
// EnrollSamples impressions, and scores GenuineProbes fresh impressions of
// each finger against its own template and every finger's first probe
// against every other template. Results do not depend on Workers.
func Evaluate(ctx context.Context, m matcher.Matcher, cfg EvalConfig) (*EvalResult, error) {
	if err := cfg.fill(m); err != nil {
		return nil, err
	}
	n := cfg.Fingers
	seeds := finger.FingerSeeds(cfg.Seed, n)
	templates := make([]matcher.Template, n)
	probes := make([][]matcher.Sample, n)
	enrolledOne := cfg.counter(StageEnroll, n)
	err := parallel(ctx, cfg.Workers, n, func(i int) error {
		defer enrolledOne()
		f := finger.New(seeds[i])
		ep, pp := finger.Touches(f, cfg.EnrollSamples, cfg.GenuineProbes)
		samples := make([]matcher.Sample, len(ep))
		for k, p := range ep {
			s, err := f.Impress(cfg.Sensor, p)
			if err != nil {
				return err
			}
			samples[k] = s
		}
		probes[i] = make([]matcher.Sample, len(pp))
		for k, p := range pp {
			s, err := f.Impress(cfg.Sensor, p)
			if err != nil {
				return err
			}
			probes[i][k] = s
		}
		t, err := m.Enroll(samples)
		if errors.Is(err, matcher.ErrEnroll) {
			return nil // a failure to enroll, counted below
		}
		templates[i] = t
		return err
	})
	if err != nil {
		return nil, err
	}

	res := &EvalResult{
		Matcher: m.Name(), Fingers: n, Seed: cfg.Seed, Threshold: cfg.Threshold,
		EnrollSamples: cfg.EnrollSamples, GenuineProbes: cfg.GenuineProbes, Sensor: cfg.Sensor,
	}
	var enrolled []int
	for i, t := range templates {
		if t == nil {
			res.EnrollFailures++
			continue
		}
		enrolled = append(enrolled, i)
	}
	g := cfg.GenuineProbes
	genuine := make([]float64, len(enrolled)*g)
	impostor := make([]float64, len(enrolled)*(n-1))
	comparedOne := cfg.counter(StageCompare, len(enrolled))
	err = parallel(ctx, cfg.Workers, len(enrolled), func(e int) error {
		defer comparedOne()
		a := enrolled[e]
		t := templates[a]
		for k, p := range probes[a] {
			s, err := m.Match(t, p)
			if err != nil {
				return err
			}
			genuine[e*g+k] = s
		}
		k := e * (n - 1)
		for b := 0; b < n; b++ {
			if b == a {
				continue
			}
			s, err := m.Match(t, probes[b][0])
			if err != nil {
				return err
			}
			impostor[k] = s
			k++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(genuine)
	slices.Sort(impostor)
	res.Genuine, res.Impostor = genuine, impostor
	res.GenuineComparisons, res.ImpostorComparisons = len(genuine), len(impostor)
	res.FalseAccepts = len(impostor) - countBelow(impostor, cfg.Threshold)
	res.FalseRejects = countBelow(genuine, cfg.Threshold)
	res.FAR = ratio(res.FalseAccepts, len(impostor))
	res.FRR = ratio(res.FalseRejects, len(genuine))
	res.FARUpper95 = upperBound95(res.FalseAccepts, len(impostor))
	if len(impostor) > 0 {
		res.MaxImpostorScore = impostor[len(impostor)-1]
	}
	res.EER = eer(genuine, impostor)
	return res, nil
}

// countBelow is the number of scores (ascending) below t.
func countBelow(sorted []float64, t float64) int {
	return sort.SearchFloat64s(sorted, t)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Rates returns FAR and FRR at threshold t (accept when score ≥ t).
func (r *EvalResult) Rates(t float64) (far, frr float64) {
	fa := len(r.Impostor) - countBelow(r.Impostor, t)
	return ratio(fa, len(r.Impostor)), ratio(countBelow(r.Genuine, t), len(r.Genuine))
}

// eer is the equal error rate: the mean of FAR and FRR at the candidate
// threshold where they are closest.
func eer(genuine, impostor []float64) float64 {
	best, bestGap := 0.0, 2.0
	for _, t := range thresholds(genuine, impostor) {
		fa := ratio(len(impostor)-countBelow(impostor, t), len(impostor))
		fr := ratio(countBelow(genuine, t), len(genuine))
		if gap := abs(fa - fr); gap < bestGap {
			best, bestGap = (fa+fr)/2, gap
		}
	}
	return best
}

// thresholds lists every distinct score (each one changes FAR or FRR),
// ascending, plus one above the largest.
func thresholds(genuine, impostor []float64) []float64 {
	all := append(append([]float64(nil), genuine...), impostor...)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > 0 {
		all = append(all, all[len(all)-1]+1)
	}
	return all
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// upperBound95 is the one-sided 95 % Clopper–Pearson upper confidence
// bound of a proportion with k events in n trials: the p at which
// P(X ≤ k | n, p) = 0.05, found by bisection.
func upperBound95(k, n int) float64 {
	if n == 0 || k >= n {
		return 1
	}
	lo, hi := float64(k)/float64(n), 1.0
	for range 100 {
		mid := (lo + hi) / 2
		if binomCDF(k, n, mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// binomCDF is P(X ≤ k) for X ~ Binomial(n, p), summed in log space.
func binomCDF(k, n int, p float64) float64 {
	lp, lq := math.Log(p), math.Log1p(-p)
	var sum float64
	for i := 0; i <= k; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		a, _ := math.Lgamma(float64(i + 1))
		b, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lc - a - b + float64(i)*lp + float64(n-i)*lq)
	}
	return sum
}
