package eval

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

func smallEval(t *testing.T, workers int) *EvalResult {
	t.Helper()
	res, err := Evaluate(context.Background(), matcher.NewMinutiae(0), EvalConfig{
		Fingers: 40, Seed: 7, EnrollSamples: 6, GenuineProbes: 5, Workers: workers,
	})
	require.NoError(t, err)
	return res
}

func TestEvaluateSmallPopulation(t *testing.T) {
	res := smallEval(t, 0)
	enrolled := res.Fingers - res.EnrollFailures
	assert.LessOrEqual(t, res.EnrollFailures, 2)
	assert.Equal(t, enrolled*(res.Fingers-1), res.ImpostorComparisons)
	assert.Equal(t, enrolled*5, res.GenuineComparisons)
	assert.Len(t, res.Impostor, res.ImpostorComparisons)
	assert.Len(t, res.Genuine, res.GenuineComparisons)
	assert.Equal(t, float64(matcher.DefaultThreshold), res.Threshold)
	assert.Equal(t, finger.DefaultSensor, res.Sensor)
	assert.Equal(t, 6, res.EnrollSamples)

	// sane figures: the matcher separates this population
	assert.LessOrEqual(t, res.FAR, 1.0/1000)
	assert.LessOrEqual(t, res.FRR, 0.05)
	assert.Less(t, res.EER, 0.02)
	assert.InDelta(t, float64(res.FalseAccepts)/float64(res.ImpostorComparisons), res.FAR, 1e-12)
	assert.InDelta(t, float64(res.FalseRejects)/float64(res.GenuineComparisons), res.FRR, 1e-12)
	assert.GreaterOrEqual(t, res.FARUpper95, res.FAR)
	assert.Equal(t, slices.Max(res.Impostor), res.MaxImpostorScore)

	// genuine scores sit above impostor scores
	median := func(s []float64) float64 { return s[len(s)/2] }
	assert.Greater(t, median(res.Genuine), 3*median(res.Impostor))
	assert.Greater(t, res.Genuine[len(res.Genuine)/20], res.Impostor[len(res.Impostor)*999/1000],
		"5th percentile genuine above the 99.9th percentile impostor")
}

func TestEvaluateIndependentOfWorkers(t *testing.T) {
	assert.Equal(t, smallEval(t, 1), smallEval(t, 3))
}

func TestEvaluateThresholdOverride(t *testing.T) {
	res, err := Evaluate(context.Background(), matcher.NewMinutiae(0), EvalConfig{
		Fingers: 10, Seed: 7, EnrollSamples: 4, GenuineProbes: 2, Threshold: 1e9,
	})
	require.NoError(t, err)
	assert.Equal(t, 1e9, res.Threshold)
	assert.Equal(t, 1.0, res.FRR)
	assert.Zero(t, res.FAR)
	far, frr := res.Rates(0)
	assert.Equal(t, 1.0, far, "everything scores at least 0")
	assert.Zero(t, frr)
}

func TestEvaluateRejects(t *testing.T) {
	m := matcher.NewMinutiae(0)
	for name, cfg := range map[string]EvalConfig{
		"one finger":      {Fingers: 1},
		"too many enroll": {Fingers: 2, EnrollSamples: matcher.MaxTemplateWindows + 1},
		"negative probes": {Fingers: 2, GenuineProbes: -1},
		"tiny sensor":     {Fingers: 2, Sensor: finger.Sensor{Width: 8, Height: 8}},
	} {
		_, err := Evaluate(context.Background(), m, cfg)
		assert.Error(t, err, name)
	}
	_, err := Evaluate(context.Background(), m, EvalConfig{Fingers: 1})
	assert.ErrorIs(t, err, ErrEvalConfig)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Evaluate(ctx, m, EvalConfig{Fingers: 50, Seed: 1})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestUpperBound95(t *testing.T) {
	// k = 0: 1 − 0.05^(1/n), the "rule of three" ≈ 3/n
	assert.InDelta(t, 1-math.Pow(0.05, 1.0/250000), upperBound95(0, 250000), 1e-9)
	assert.InDelta(t, 3.0/250000, upperBound95(0, 250000), 1e-7)
	// k = 1, n = 100: 0.0466 (Clopper–Pearson tables)
	assert.InDelta(t, 0.0466, upperBound95(1, 100), 1e-4)
	assert.Equal(t, 1.0, upperBound95(0, 0))
	assert.Equal(t, 1.0, upperBound95(5, 5))
}

func TestFingerSeeds(t *testing.T) {
	a := finger.FingerSeeds(1, 100)
	assert.Equal(t, a, finger.FingerSeeds(1, 100))
	assert.Equal(t, a[:10], finger.FingerSeeds(1, 10), "a population extends its smaller self")
	assert.NotEqual(t, a, finger.FingerSeeds(2, 100))
	slices.Sort(a)
	assert.Len(t, slices.Compact(a), 100)
}

// BenchmarkMatch measures one comparison on the synthetic population:
// templates enrolled from eight impressions against fresh probes.
func BenchmarkMatch(b *testing.B) {
	m := matcher.NewMinutiae(0)
	seeds := finger.FingerSeeds(3, 20)
	var tps []matcher.Template
	var probes []matcher.Sample
	for _, seed := range seeds {
		f := finger.New(seed)
		ep, pp := finger.Touches(f, DefaultEnrollSamples, 1)
		var ss []matcher.Sample
		for _, p := range ep {
			s, err := f.Impress(finger.DefaultSensor, p)
			require.NoError(b, err)
			ss = append(ss, s)
		}
		tp, err := m.Enroll(ss)
		require.NoError(b, err)
		tps = append(tps, tp)
		s, err := f.Impress(finger.DefaultSensor, pp[0])
		require.NoError(b, err)
		probes = append(probes, s)
	}
	for _, bc := range []struct {
		name  string
		probe func(i int) (matcher.Template, matcher.Sample)
	}{
		{"genuine", func(i int) (matcher.Template, matcher.Sample) { return tps[i%len(tps)], probes[i%len(tps)] }},
		{"impostor", func(i int) (matcher.Template, matcher.Sample) {
			return tps[i%len(tps)], probes[(i+1+i/len(tps))%len(tps)]
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tp, p := bc.probe(i)
				if _, err := m.Match(tp, p); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// TestEvaluateScoresPinned pins every score of the small population (200
// genuine, 1,560 impostor comparisons) by the SHA-256 of their IEEE-754
// bits, and FAR, FRR and EER with them: a change made to speed the matcher
// up must leave the evaluation, and so the calibration of
// matcher.DefaultThreshold, exactly as it was (the digest was taken at the
// matcher before the issue 14 speed-ups and after them).
func TestEvaluateScoresPinned(t *testing.T) {
	res := smallEval(t, 0)
	h := sha256.New()
	var b [8]byte
	for _, s := range slices.Concat(res.Genuine, res.Impostor) {
		binary.BigEndian.PutUint64(b[:], math.Float64bits(s))
		h.Write(b[:])
	}
	assert.Equal(t, "ce37b43a287f4f776bc21eef4bcf57d9c2822f5f67a93cd3dfa222bc6a6f40b9", hex.EncodeToString(h.Sum(nil)))
	assert.Equal(t, [2]int{200, 1560}, [2]int{len(res.Genuine), len(res.Impostor)})
	assert.Zero(t, res.FAR)
	assert.Zero(t, res.FRR)
	assert.Zero(t, res.EER)
}
