package matcher

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnrollMerges(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(41, 70)
	offsets := [][2]float64{{0, 0}, {50, 0}, {-50, 0}, {0, 50}, {0, -50}}
	var samples []Sample
	for k, off := range offsets {
		samples = append(samples, capture(finger, off[0], off[1], 0, 200, 200, 1, uint64(k)))
	}
	// A spurious minutia in one sample only, in the middle of the
	// finger where every window sees it.
	spurious := Minutia{X: 103, Y: 97, Angle: 1, Kind: Bifurcation, Quality: 30}
	samples[0].Minutiae = append(samples[0].Minutiae, spurious)
	// A real minutia missing from one sample.
	dropped := samples[3].Minutiae[len(samples[3].Minutiae)/2]
	samples[3].Minutiae = append(samples[3].Minutiae[:len(samples[3].Minutiae)/2], samples[3].Minutiae[len(samples[3].Minutiae)/2+1:]...)

	tt, err := m.Enroll(samples)
	require.NoError(t, err)
	tp := tt.(*MinutiaeTemplate)

	ws := tp.Windows()
	require.Len(t, ws, len(samples))
	for k, w := range ws {
		// sample k shows finger point off_k at its centre, so its window
		// origin sits at off_k in the first sample's frame
		assert.InDelta(t, offsets[k][0], w.X, 2, "window %d x", k)
		assert.InDelta(t, offsets[k][1], w.Y, 2, "window %d y", k)
		assert.InDelta(t, 0, angleDiff(w.Angle, 0), 0.02, "window %d angle", k)
	}

	ms := tp.Minutiae()
	maxSample := 0
	for _, s := range samples {
		maxSample = max(maxSample, len(s.Minutiae))
	}
	assert.Greater(t, len(ms), maxSample, "the template covers more than one window")
	near := func(x, y float64) bool {
		for _, mn := range ms {
			if math.Hypot(mn.X-x, mn.Y-y) < 3 {
				return true
			}
		}
		return false
	}
	assert.False(t, near(spurious.X, spurious.Y), "a minutia seen once under five windows is dropped")
	// dropped was seen in sample 3 (window origin (0, 50)) at (x, y),
	// i.e. at (x, y+50) in the template frame, and by the others.
	assert.True(t, near(dropped.X, dropped.Y+50), "a minutia missed once is kept")
	// Every finger minutia well inside the union of windows is present.
	found, inside := 0, 0
	for _, f := range finger {
		x, y := f.X+100, f.Y+100 // first sample's frame
		if x > 10 && x < 190 && y > 10 && y < 190 {
			inside++
			if near(x, y) {
				found++
			}
		}
	}
	assert.GreaterOrEqual(t, found, inside*9/10)
}

func TestEnrollRejects(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(51, 60)
	good := capture(finger, 0, 0, 0, 200, 200, 1, 1)
	other := func(seed uint64) Sample { return capture(testFinger(seed, 60), 0, 0, 0, 200, 200, 1, seed) }
	tooMany := make([]Sample, MaxTemplateWindows+1)
	for i := range tooMany {
		tooMany[i] = good
	}
	tests := []struct {
		name    string
		samples []Sample
		also    error
	}{
		{"no samples", nil, nil},
		{"too many samples", tooMany, nil},
		{"invalid sample", []Sample{good, {Width: 10, Height: 10, Minutiae: []Minutia{{X: 20, Kind: RidgeEnding}}}}, ErrInvalidSample},
		{"different fingers", []Sample{good, other(52), other(53), other(54)}, nil},
		{"too few minutiae", []Sample{{Width: 200, Height: 200, Minutiae: good.Minutiae[:MinTemplateMinutiae-1]}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := m.Enroll(tc.samples)
			assert.Nil(t, tp)
			assert.ErrorIs(t, err, ErrEnroll)
			if tc.also != nil {
				assert.ErrorIs(t, err, tc.also)
			}
		})
	}
}

// A sample that does not overlap the first one is merged once a sample
// bridging the two has been.
func TestEnrollRetriesOutOfOrder(t *testing.T) {
	m := NewMinutiae(0)
	finger := testFinger(61, 80)
	samples := []Sample{
		capture(finger, -70, 0, 0, 160, 160, 1, 1),
		capture(finger, 90, 0, 0, 160, 160, 1, 2), // no overlap with the first
		capture(finger, 10, 0, 0, 160, 160, 1, 3), // overlaps both
	}
	tt, err := m.Enroll(samples)
	require.NoError(t, err)
	ws := tt.(*MinutiaeTemplate).Windows()
	require.Len(t, ws, 3)
	// windows are stored in merge order: first, bridge, then the far one
	assert.InDelta(t, 80, ws[1].X, 2)
	assert.InDelta(t, 160, ws[2].X, 2)
}
