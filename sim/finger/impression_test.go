package finger

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

func impress(t *testing.T, f *Finger, s Sensor, p Placement) sensorproto.Sample {
	t.Helper()
	out, err := f.Impress(s, p)
	require.NoError(t, err)
	require.NoError(t, out.Validate())
	return out
}

func TestImpressDeterministic(t *testing.T) {
	f := New(77)
	p := Placement{DX: 12, DY: -30, Rotation: 17, Area: 0.8, Pressure: 0.7, Quality: 0.6, Noise: 99}
	a, b := impress(t, f, DefaultSensor, p), impress(t, New(77), DefaultSensor, p)
	assert.Equal(t, a, b)
	p.Noise = 100
	assert.NotEqual(t, a, impress(t, f, DefaultSensor, p))
}

// expected maps the finger's minutiae through a noiseless placement.
func expected(f *Finger, s Sensor, p Placement) [][2]float64 {
	sr, cr := math.Sincos(p.Rotation * math.Pi / 180)
	var out [][2]float64
	for _, m := range f.Minutiae {
		dx, dy := m.X-p.DX, m.Y-p.DY
		x, y := cr*dx-sr*dy+float64(s.Width)/2, sr*dx+cr*dy+float64(s.Height)/2
		if x >= 12 && y >= 12 && x < float64(s.Width)-12 && y < float64(s.Height)-12 && f.inPrint(m.X, m.Y, 0.8) {
			out = append(out, [2]float64{x, y})
		}
	}
	return out
}

// found counts the expected positions that have a sample minutia within
// tol px.
func found(want [][2]float64, s sensorproto.Sample, tol float64) int {
	n := 0
	for _, w := range want {
		for _, m := range s.Minutiae {
			if math.Hypot(m.X-w[0], m.Y-w[1]) <= tol {
				n++
				break
			}
		}
	}
	return n
}

func TestImpressPlacement(t *testing.T) {
	f := New(2024)
	for _, p := range []Placement{
		{Area: 1, Pressure: 0.5, Quality: 1, Noise: 1},
		{DX: 40, DY: -25, Area: 1, Pressure: 0.5, Quality: 1, Noise: 2},
		{DX: -20, DY: 30, Rotation: 90, Area: 1, Pressure: 0.5, Quality: 1, Noise: 3},
		{Rotation: -150, Area: 1, Pressure: 0.5, Quality: 1, Noise: 4},
	} {
		s := impress(t, f, DefaultSensor, p)
		want := expected(f, DefaultSensor, p)
		require.NotEmpty(t, want)
		// a clean capture shows most minutiae (4–13 % are missed) where the rigid
		// placement puts it (distortion and jitter are a few px)
		assert.GreaterOrEqual(t, found(want, s, 8), len(want)*7/10, "%+v", p)
	}
}

func TestImpressQualityAndPressure(t *testing.T) {
	f := New(31337)
	avg := func(p Placement, big bool) (hits, spurious float64) {
		s := DefaultSensor
		if big {
			s = Sensor{Width: 400, Height: 500}
		}
		const runs = 20
		for k := range runs {
			p.Noise = uint64(k)
			out := impress(t, f, s, p)
			want := expected(f, s, p)
			h := found(want, out, 6)
			hits += float64(h) / runs
			spurious += float64(len(out.Minutiae)-h) / runs
		}
		return hits, spurious
	}
	goodHits, goodSpur := avg(Placement{Area: 1, Pressure: 0.5, Quality: 1}, false)
	badHits, badSpur := avg(Placement{Area: 1, Pressure: 0.5, Quality: 0.1}, false)
	assert.Greater(t, goodHits, badHits+2, "low quality misses and displaces minutiae")
	assert.Greater(t, badSpur, goodSpur+2, "low quality adds spurious minutiae")

	// On a sensor larger than the print, a light touch shows less of it.
	light, _ := avg(Placement{Area: 1, Pressure: 0, Quality: 1}, true)
	firm, _ := avg(Placement{Area: 1, Pressure: 1, Quality: 1}, true)
	assert.Greater(t, firm, light+3)
}

func TestImpressPartialArea(t *testing.T) {
	f := New(5)
	full := impress(t, f, DefaultSensor, Placement{Area: 1, Pressure: 0.5, Quality: 1, Noise: 1})
	sides := map[[2]int]bool{}
	for k := range uint64(40) {
		s := impress(t, f, DefaultSensor, Placement{Area: 0.5, Pressure: 0.5, Quality: 1, Noise: k})
		sides[[2]int{s.Width, s.Height}] = true
		assert.Equal(t, DefaultSensor.Width*DefaultSensor.Height/2, s.Width*s.Height, "half the window")
		assert.Less(t, len(s.Minutiae), len(full.Minutiae))
	}
	assert.Len(t, sides, 2, "cut from the sides and from the top or bottom")
}

func TestPlacementValidate(t *testing.T) {
	ok := Nominal
	require.NoError(t, ok.Validate())
	for name, p := range map[string]Placement{
		"dx too far":    {DX: MaxOffset + 1, Area: 1},
		"dy NaN":        {DY: math.NaN(), Area: 1},
		"rotation":      {Rotation: 361, Area: 1},
		"rotation NaN":  {Rotation: math.NaN(), Area: 1},
		"area 0":        {Area: 0},
		"area above 1":  {Area: 1.01},
		"pressure":      {Area: 1, Pressure: -0.1},
		"quality":       {Area: 1, Quality: 1.5},
		"quality +Inf":  {Area: 1, Quality: math.Inf(1)},
		"area negative": {Area: -1},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, p.Validate(), ErrInvalidPlacement)
			_, err := New(1).Impress(DefaultSensor, p)
			assert.ErrorIs(t, err, ErrInvalidPlacement)
		})
	}
	for _, s := range []Sensor{{}, {Width: 15, Height: 100}, {Width: 100, Height: sensorproto.MaxSensorSize + 1}} {
		_, err := New(1).Impress(s, Nominal)
		assert.ErrorIs(t, err, ErrInvalidPlacement, "%+v", s)
	}
}
