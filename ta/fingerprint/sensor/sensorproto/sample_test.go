package sensorproto

import (
	"math"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenSample is testdata/sample_v1.hex: a 200×180 window with a ridge
// ending at (10.25, 20.5), angle π/2, quality 80 and a bifurcation at
// (199.75, 0), angle 0, quality 0.
var goldenSample = Sample{Width: 200, Height: 180, Minutiae: []Minutia{
	{X: 10.25, Y: 20.5, Angle: math.Pi / 2, Kind: RidgeEnding, Quality: 80},
	{X: 199.75, Y: 0, Angle: 0, Kind: Bifurcation, Quality: 0},
}}

func TestSampleGolden(t *testing.T) {
	want := testkit.ReadHex(t, "testdata/sample_v1.hex")
	b, err := MarshalSample(goldenSample)
	require.NoError(t, err)
	assert.Equal(t, want, b)
	s, err := ParseSample(want)
	require.NoError(t, err)
	assert.Equal(t, goldenSample, s)
}

// TestMarshalSampleRoundsDown: coordinates are floored to the ¼ px grid,
// so a sample stays inside its window; an angle just below 2π wraps to 0.
func TestMarshalSampleRoundsDown(t *testing.T) {
	s := Sample{Width: 10, Height: 10, Minutiae: []Minutia{
		{X: 9.99, Y: 9.999, Angle: math.Nextafter(2*math.Pi, 0), Kind: RidgeEnding},
	}}
	b, err := MarshalSample(s)
	require.NoError(t, err)
	got, err := ParseSample(b)
	require.NoError(t, err)
	m := got.Minutiae[0]
	assert.Equal(t, 9.75, m.X)
	assert.Equal(t, 9.75, m.Y)
	assert.Zero(t, m.Angle)
	again, err := MarshalSample(got)
	require.NoError(t, err)
	assert.Equal(t, b, again, "canonical")
}

func TestParseSampleRejects(t *testing.T) {
	good, err := MarshalSample(goldenSample)
	require.NoError(t, err)
	mut := func(i int, v byte) []byte { c := append([]byte(nil), good...); c[i] = v; return c }
	tests := map[string][]byte{
		"empty":            nil,
		"header only":      good[:9],
		"bad magic":        mut(0, 'X'),
		"version 2":        mut(4, 2),
		"count too high":   mut(5, 3),
		"truncated":        good[:len(good)-1],
		"trailing":         append(append([]byte(nil), good...), 0),
		"zero width":       mut(7, 0),
		"x outside window": mut(10, 0xFF),
		"kind 0":           mut(16, 0),
		"kind 3":           mut(16, 3),
		"quality 101":      mut(17, 101),
		"huge window":      append(append(append([]byte(nil), good[:6]...), 0x08, 0x01), good[8:]...),
	}
	for name, b := range tests {
		s, err := ParseSample(b)
		assert.ErrorIs(t, err, ErrMalformedSample, name)
		assert.Equal(t, Sample{}, s, name)
	}
	_, err = MarshalSample(Sample{Width: 0, Height: 1})
	assert.ErrorIs(t, err, ErrMalformedSample)
}

func FuzzParseSample(f *testing.F) {
	b, _ := MarshalSample(goldenSample)
	f.Add(b)
	f.Add([]byte("FPSA\x01\x00\x00\x01\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSample(b)
		if err != nil {
			require.Equal(t, Sample{}, s)
			return
		}
		require.NoError(t, s.Validate())
		out, err := MarshalSample(s)
		require.NoError(t, err)
		require.Equal(t, b, out, "canonical")
	})
}
