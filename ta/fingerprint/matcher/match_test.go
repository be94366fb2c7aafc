package matcher

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The alignment must recover how the probe was placed relative to the
// enrolled window, from minutiae alone.
func TestMatchRecoversPlacement(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(11, 60)
	tp, err := m.Enroll([]Sample{capture(finger, 0, 0, 0, 220, 220, 0, 1)})
	require.NoError(t, err)
	for _, tc := range []struct {
		name       string
		cx, cy     float64
		rot, sigma float64
	}{
		{"same place", 0, 0, 0, 0.5},
		{"shifted", 30, -20, 0, 1},
		{"rotated 30°", 10, 10, math.Pi / 6, 1},
		{"rotated −120°", -15, 5, -2 * math.Pi / 3, 1},
		{"upside down", 0, 0, math.Pi, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := capture(finger, tc.cx, tc.cy, tc.rot, 200, 200, tc.sigma, 2)
			d, err := m.Explain(tp, probe)
			require.NoError(t, err)
			assert.InDelta(t, 0, angleDiff(d.Rotation, NormAngle(-tc.rot)), 0.03, "rotation")
			// The probe centre (100,100) shows finger point (cx,cy),
			// which the enrolled window (centre 110,110) shows at
			// (110+cx, 110+cy).
			s, c := math.Sincos(d.Rotation)
			x, y := c*100-s*100+d.TX, s*100+c*100+d.TY
			assert.InDelta(t, 110+tc.cx, x, 3, "x")
			assert.InDelta(t, 110+tc.cy, y, 3, "y")
			assert.GreaterOrEqual(t, float64(d.Pairs), 0.9*float64(min(d.ProbeOverlap, d.TemplateOverlap)))
			assert.Less(t, d.Residual, 3*tc.sigma+0.5)
			assert.GreaterOrEqual(t, d.Score, m.Threshold())
		})
	}
}

func TestGenuineAboveImpostor(t *testing.T) {
	m := NewMinutiae(0)
	const n = 12
	fingers := make([][]Minutia, n)
	tps := make([]Template, n)
	for i := range fingers {
		fingers[i] = testFinger(uint64(100+i), 50+i)
		tp, err := enrollTest(m, fingers[i], uint64(1000*i))
		require.NoError(t, err)
		tps[i] = tp
	}
	minGenuine, maxImpostor := math.Inf(1), math.Inf(-1)
	for a := range tps {
		for b := range fingers {
			probe := capture(fingers[b], float64(10*(a%3)), -15, 0.2, 200, 200, 1.5, uint64(77+a))
			dec, err := Verify(m, tps[a], probe)
			require.NoError(t, err)
			if a == b {
				minGenuine = min(minGenuine, dec.Score)
				assert.True(t, dec.Accepted, "finger %d rejected, score %.1f", a, dec.Score)
			} else {
				maxImpostor = max(maxImpostor, dec.Score)
				assert.False(t, dec.Accepted, "finger %d accepted as %d, score %.1f", b, a, dec.Score)
			}
		}
	}
	assert.Greater(t, minGenuine, maxImpostor)
	t.Logf("lowest genuine %.1f, highest impostor %.1f, threshold %g", minGenuine, maxImpostor, m.Threshold())
}

func TestMatchEdgeCases(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(5, 60)
	tp, err := enrollTest(m, finger, 5)
	require.NoError(t, err)

	_, err = m.Match(nil, capture(finger, 0, 0, 0, 200, 200, 1, 1))
	assert.ErrorIs(t, err, ErrForeignTemplate)
	_, err = m.Match(foreignTemplate{}, capture(finger, 0, 0, 0, 200, 200, 1, 1))
	assert.ErrorIs(t, err, ErrForeignTemplate)
	_, err = m.Match(&MinutiaeTemplate{}, capture(finger, 0, 0, 0, 200, 200, 1, 1))
	assert.ErrorIs(t, err, ErrForeignTemplate)

	_, err = m.Match(tp, Sample{Width: 0, Height: 10})
	assert.ErrorIs(t, err, ErrInvalidSample)
	_, err = Verify(m, tp, Sample{Width: 0, Height: 10})
	assert.ErrorIs(t, err, ErrInvalidSample)

	// too few minutiae, or none overlapping: a score of 0, not an error
	s, err := m.Match(tp, Sample{Width: 200, Height: 200, Minutiae: capture(finger, 0, 0, 0, 200, 200, 0, 1).Minutiae[:3]})
	require.NoError(t, err)
	assert.Zero(t, s)
	s, err = m.Match(tp, capture(finger, 2000, 2000, 0, 200, 200, 0, 1))
	require.NoError(t, err)
	assert.Zero(t, s)

	// a literal template (no prepared data) matches like a parsed one
	lit := &MinutiaeTemplate{minutiae: tp.(*MinutiaeTemplate).minutiae, windows: tp.(*MinutiaeTemplate).windows}
	probe := capture(finger, 5, 5, 0.1, 200, 200, 1, 9)
	s1, err := m.Match(tp, probe)
	require.NoError(t, err)
	s2, err := m.Match(lit, probe)
	require.NoError(t, err)
	assert.Equal(t, s1, s2)
}

type foreignTemplate struct{}

func (foreignTemplate) MarshalBinary() ([]byte, error) { return []byte("x"), nil }

func TestThresholdAndName(t *testing.T) {
	assert.Equal(t, float64(DefaultThreshold), NewMinutiae(0).Threshold())
	assert.Equal(t, float64(DefaultThreshold), NewMinutiae(-3).Threshold())
	assert.Equal(t, 42.5, NewMinutiae(42.5).Threshold())
	assert.Equal(t, MinutiaeName, NewMinutiae(0).Name())
}

// Same inputs, same outputs, whatever the goroutine: the fingerprint TA
// and the evaluation rely on it.
func TestMatchDeterministicAndConcurrent(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(21, 70)
	t1, err := enrollTest(m, finger, 3)
	require.NoError(t, err)
	t2, err := enrollTest(m, finger, 3)
	require.NoError(t, err)
	b1, _ := t1.MarshalBinary()
	b2, _ := t2.MarshalBinary()
	assert.Equal(t, b1, b2)

	probes := make([]Sample, 16)
	want := make([]float64, len(probes))
	for i := range probes {
		probes[i] = capture(finger, float64(i*3), float64(-i*2), float64(i)*0.05, 200, 200, 1.5, uint64(i))
		want[i], err = m.Match(t1, probes[i])
		require.NoError(t, err)
	}
	got := make([][]float64, 4)
	var wg sync.WaitGroup
	for g := range got {
		got[g] = make([]float64, len(probes))
		wg.Go(func() {
			for i := range probes {
				got[g][i], _ = m.Match(t1, probes[(i+g)%len(probes)])
			}
		})
	}
	wg.Wait()
	for g := range got {
		for i := range probes {
			assert.Equal(t, want[(i+g)%len(probes)], got[g][i])
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	m := NewMinutiae(0)
	finger := testFinger(31, 60)
	tp, err := enrollTest(m, finger, 31)
	require.NoError(b, err)
	genuine := capture(finger, 20, -10, 0.2, 200, 200, 1.5, 1)
	impostor := capture(testFinger(32, 60), 0, 0, 0, 200, 200, 1.5, 2)
	for _, bc := range []struct {
		name  string
		probe Sample
	}{{"genuine", genuine}, {"impostor", impostor}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Match(tp, bc.probe); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseTemplate(b *testing.B) {
	m := NewMinutiae(0)
	tp, err := enrollTest(m, testFinger(31, 60), 31)
	require.NoError(b, err)
	raw, _ := tp.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMinutiaeTemplate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchGroup compares one genuine probe with a group of two
// templates (the demo device's), as the fingerprint TA does per capture:
// Match per template, or the probe prepared once (ProbePreparer).
func BenchmarkMatchGroup(b *testing.B) {
	m := NewMinutiae(0)
	finger := testFinger(31, 60)
	t1, err := enrollTest(m, finger, 31)
	require.NoError(b, err)
	t2, err := enrollTest(m, testFinger(33, 60), 33)
	require.NoError(b, err)
	group := []Template{t2, t1}
	probe := capture(finger, 20, -10, 0.2, 200, 200, 1.5, 1)
	b.Run("match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range group {
				if _, err := m.Match(t, probe); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pp, err := m.PrepareProbe(probe)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range group {
				if _, err := m.MatchPrepared(t, pp); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
