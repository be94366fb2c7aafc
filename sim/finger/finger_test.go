package finger

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

func TestNewDeterministic(t *testing.T) {
	a, b := New(12345), New(12345)
	assert.Equal(t, a, b)
	c := New(12346)
	assert.NotEqual(t, a.Minutiae, c.Minutiae)
}

func TestFingerPlausible(t *testing.T) {
	classes := map[Class]int{}
	const n = 400
	for _, seed := range FingerSeeds(9, n) {
		f := New(seed)
		classes[f.Class]++
		require.GreaterOrEqual(t, len(f.Minutiae), minMinutiae)
		require.LessOrEqual(t, len(f.Minutiae), maxMinutiae)
		for i, m := range f.Minutiae {
			assert.True(t, f.inPrint(m.X, m.Y, 1), "minutia %d outside the print", i)
			assert.True(t, m.Kind.Valid())
			assert.True(t, m.Angle >= 0 && m.Angle < 2*math.Pi)
			assert.LessOrEqual(t, m.Quality, uint8(sensorproto.MaxQuality))
			// directions follow the ridge flow (mod π)
			d := math.Abs(math.Mod(m.Angle-f.Orientation(m.X, m.Y)+4*math.Pi, math.Pi))
			assert.Less(t, math.Min(d, math.Pi-d), 0.4, "minutia %d against the ridge flow", i)
			for _, o := range f.Minutiae[:i] {
				assert.GreaterOrEqual(t, math.Hypot(m.X-o.X, m.Y-o.Y), minMinutiaSpace)
			}
		}
	}
	// Henry class frequencies, loosely: loops most common, arches rare.
	assert.Greater(t, classes[LeftLoop]+classes[RightLoop], n/2)
	assert.Greater(t, classes[Whorl], n/6)
	assert.Less(t, classes[Arch]+classes[TentedArch], n/8)
	assert.Len(t, classes, 5, "every class occurs")
	assert.Equal(t, "whorl", Whorl.String())
	assert.Equal(t, "unknown", Class(9).String())
}

func TestOrientationRange(t *testing.T) {
	for _, seed := range FingerSeeds(3, 50) {
		f := New(seed)
		for x := -150.0; x <= 150; x += 30 {
			for y := -200.0; y <= 200; y += 40 {
				o := f.Orientation(x, y)
				assert.True(t, o >= 0 && o < math.Pi, "%v at (%g,%g): %g", f.Class, x, y, o)
			}
		}
	}
}
