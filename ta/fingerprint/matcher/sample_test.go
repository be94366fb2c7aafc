package matcher

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSampleValidate(t *testing.T) {
	ok := Minutia{X: 5, Y: 5, Angle: 1, Kind: Bifurcation, Quality: 100}
	with := func(m Minutia) Sample { return Sample{Width: 10, Height: 10, Minutiae: []Minutia{ok, m}} }
	tests := []struct {
		name  string
		s     Sample
		index int // -2: valid
	}{
		{"valid", with(ok), -2},
		{"empty is valid", Sample{Width: 1, Height: 1}, -2},
		{"zero width", Sample{Height: 10}, -1},
		{"negative height", Sample{Width: 10, Height: -1}, -1},
		{"too wide", Sample{Width: MaxSensorSize + 1, Height: 10}, -1},
		{"too many minutiae", Sample{Width: 10, Height: 10, Minutiae: make([]Minutia, MaxSampleMinutiae+1)}, -1},
		{"x outside", with(Minutia{X: 10, Y: 5, Kind: RidgeEnding}), 1},
		{"y negative", with(Minutia{X: 1, Y: -0.1, Kind: RidgeEnding}), 1},
		{"NaN x", with(Minutia{X: math.NaN(), Kind: RidgeEnding}), 1},
		{"angle 2π", with(Minutia{Angle: 2 * math.Pi, Kind: RidgeEnding}), 1},
		{"negative angle", with(Minutia{Angle: -0.1, Kind: RidgeEnding}), 1},
		{"NaN angle", with(Minutia{Angle: math.NaN(), Kind: RidgeEnding}), 1},
		{"kind 0", with(Minutia{}), 1},
		{"kind 3", with(Minutia{Kind: 3}), 1},
		{"quality 101", with(Minutia{Kind: RidgeEnding, Quality: 101}), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.index == -2 {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalidSample)
			var se *SampleError
			if assert.ErrorAs(t, err, &se) {
				assert.Equal(t, tc.index, se.Index)
			}
		})
	}
}

func TestNormAngle(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0}, {1, 1}, {-math.Pi / 2, 3 * math.Pi / 2}, {2 * math.Pi, 0},
		{5 * math.Pi, math.Pi}, {-7 * math.Pi, math.Pi}, {-1e-18, 0},
	} {
		got := NormAngle(tc.in)
		assert.InDelta(t, tc.want, got, 1e-9, "NormAngle(%g)", tc.in)
		assert.True(t, got >= 0 && got < 2*math.Pi)
	}
}

func TestKind(t *testing.T) {
	assert.Equal(t, "ridge-ending", RidgeEnding.String())
	assert.Equal(t, "bifurcation", Bifurcation.String())
	assert.Equal(t, "Kind(7)", Kind(7).String())
	assert.False(t, Kind(0).Valid())
}
