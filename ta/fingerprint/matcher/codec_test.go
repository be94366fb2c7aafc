package matcher

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func goldenTemplate(t testing.TB) *MinutiaeTemplate {
	t.Helper()
	tp, err := NewMinutiaeTemplate(
		[]Minutia{
			{X: 10.25, Y: -3.5, Angle: math.Pi / 2, Kind: RidgeEnding, Quality: 80},
			{X: 150, Y: 120.75, Angle: 0, Kind: Bifurcation, Quality: 100},
			{X: -8191.75, Y: 8191.75, Angle: 2*math.Pi - 1e-9, Kind: Bifurcation, Quality: 0},
		},
		[]Window{
			{Width: 200, Height: 200},
			{X: 40.5, Y: -12.25, Angle: math.Pi / 4, Width: 192, Height: 160},
		})
	require.NoError(t, err)
	return tp
}

// The template format is stored sealed on devices: its bytes must never
// change silently. testdata/template_v1.hex pins them.
func TestTemplateGolden(t *testing.T) {
	b, err := goldenTemplate(t).MarshalBinary()
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "template_v1.hex"))
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(want)), hex.EncodeToString(b))
	assert.Len(t, b, headerSize+2*windowSize+3*minutiaSize)
}

func TestTemplateRoundTrip(t *testing.T) {
	tp := goldenTemplate(t)
	b, err := tp.MarshalBinary()
	require.NoError(t, err)
	got, err := ParseMinutiaeTemplate(b)
	require.NoError(t, err)
	assert.Equal(t, tp.Minutiae(), got.Minutiae())
	assert.Equal(t, tp.Windows(), got.Windows())
	b2, err := got.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, b, b2, "encoding is canonical")

	// quantisation: ¼ px and 2π/65536, the angle 2π−ε wraps to 0
	ms := got.Minutiae()
	assert.Equal(t, -8191.75, ms[2].X)
	assert.Equal(t, 0.0, ms[2].Angle)

	// an enrolled template round-trips through the Matcher interface
	m := NewMinutiae(0)
	et, err := enrollTest(m, testFinger(1, 60), 100)
	require.NoError(t, err)
	eb, err := et.MarshalBinary()
	require.NoError(t, err)
	pt, err := m.ParseTemplate(eb)
	require.NoError(t, err)
	assert.Equal(t, et.(*MinutiaeTemplate).Minutiae(), pt.(*MinutiaeTemplate).Minutiae())
	probe := capture(testFinger(1, 60), 10, 5, 0.1, 200, 200, 1, 999)
	s1, err := m.Match(et, probe)
	require.NoError(t, err)
	s2, err := m.Match(pt, probe)
	require.NoError(t, err)
	assert.Equal(t, s1, s2)
}

func TestParseTemplateRejects(t *testing.T) {
	good, err := goldenTemplate(t).MarshalBinary()
	require.NoError(t, err)
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	w1 := headerSize                // first window
	m1 := headerSize + 2*windowSize // first minutia
	tests := []struct {
		name string
		in   []byte
		want error
		off  int
	}{
		{"empty", nil, ErrTruncated, 0},
		{"short header", good[:9], ErrTruncated, 9},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrBadMagic, 0},
		{"version 2", mod(func(b []byte) []byte { b[4] = 2; return b }), ErrUnsupportedVersion, 4},
		{"version 0", mod(func(b []byte) []byte { b[4] = 0; return b }), ErrUnsupportedVersion, 4},
		{"flags set", mod(func(b []byte) []byte { b[5] = 1; return b }), ErrFieldValue, 5},
		{"no windows", mod(func(b []byte) []byte { b[6] = 0; return b }), ErrCount, 6},
		{"33 windows", mod(func(b []byte) []byte { b[6] = 33; return b }), ErrCount, 6},
		{"reserved set", mod(func(b []byte) []byte { b[7] = 0x80; return b }), ErrFieldValue, 7},
		{"no minutiae", mod(func(b []byte) []byte { b[8], b[9] = 0, 0; return b }), ErrCount, 8},
		{"257 minutiae", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[8:], 257); return b }), ErrCount, 8},
		{"65535 minutiae", mod(func(b []byte) []byte { b[8], b[9] = 0xff, 0xff; return b }), ErrCount, 8},
		{"count says more", mod(func(b []byte) []byte { b[9] = 4; return b }), ErrTruncated, len(good)},
		{"count says fewer", mod(func(b []byte) []byte { b[9] = 2; return b }), ErrTrailingData, len(good) - minutiaSize},
		{"truncated body", good[:len(good)-1], ErrTruncated, len(good) - 1},
		{"trailing byte", append(append([]byte(nil), good...), 0), ErrTrailingData, len(good)},
		{"window width 0", mod(func(b []byte) []byte { b[w1+6], b[w1+7] = 0, 0; return b }), ErrFieldValue, w1 + 6},
		{"window width 2049", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[w1+6:], 2049); return b }), ErrFieldValue, w1 + 6},
		{"window height 0", mod(func(b []byte) []byte { b[w1+8], b[w1+9] = 0, 0; return b }), ErrFieldValue, w1 + 8},
		{"kind 0", mod(func(b []byte) []byte { b[m1+6] = 0; return b }), ErrFieldValue, m1 + 6},
		{"kind 3", mod(func(b []byte) []byte { b[m1+6] = 3; return b }), ErrFieldValue, m1 + 6},
		{"quality 101", mod(func(b []byte) []byte { b[m1+7] = 101; return b }), ErrFieldValue, m1 + 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMinutiaeTemplate(tc.in)
			require.Error(t, err)
			assert.Nil(t, got, "no partial result")
			assert.ErrorIs(t, err, ErrMalformedTemplate)
			assert.ErrorIs(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.off, de.Offset)
			_, err = NewMinutiae(0).ParseTemplate(tc.in)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestNewMinutiaeTemplateRejects(t *testing.T) {
	okM := []Minutia{{X: 1, Y: 1, Kind: RidgeEnding}}
	okW := []Window{{Width: 10, Height: 10}}
	many := make([]Minutia, MaxTemplateMinutiae+1)
	for i := range many {
		many[i] = okM[0]
	}
	tests := []struct {
		name string
		ms   []Minutia
		ws   []Window
		want error
	}{
		{"no minutiae", nil, okW, ErrCount},
		{"too many minutiae", many, okW, ErrCount},
		{"no windows", okM, nil, ErrCount},
		{"too many windows", okM, make([]Window, MaxTemplateWindows+1), ErrCount},
		{"NaN x", []Minutia{{X: math.NaN(), Kind: RidgeEnding}}, okW, ErrFieldValue},
		{"x out of range", []Minutia{{X: 8192, Kind: RidgeEnding}}, okW, ErrFieldValue},
		{"infinite angle", []Minutia{{Angle: math.Inf(1), Kind: RidgeEnding}}, okW, ErrFieldValue},
		{"kind 0", []Minutia{{}}, okW, ErrFieldValue},
		{"quality 101", []Minutia{{Kind: Bifurcation, Quality: 101}}, okW, ErrFieldValue},
		{"window too wide", okM, []Window{{Width: MaxSensorSize + 1, Height: 1}}, ErrFieldValue},
		{"window y out of range", okM, []Window{{Y: -9000, Width: 1, Height: 1}}, ErrFieldValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewMinutiaeTemplate(tc.ms, tc.ws)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, ErrMalformedTemplate)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func FuzzParseMinutiaeTemplate(f *testing.F) {
	good, err := goldenTemplate(f).MarshalBinary()
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte(nil), good...), 0))
	f.Add([]byte(templateMagic))
	f.Add([]byte{})
	m := NewMinutiae(0)
	probe := capture(testFinger(3, 60), 0, 0, 0, 200, 200, 1, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		tp, err := ParseMinutiaeTemplate(b)
		if err != nil {
			if tp != nil {
				t.Fatal("partial result on error")
			}
			if !errors.Is(err, ErrMalformedTemplate) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(b) > MaxTemplateSize {
			t.Fatalf("accepted %d bytes, bound %d", len(b), MaxTemplateSize)
		}
		out, err := tp.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("not canonical: %v", err)
		}
		if _, err := m.Match(tp, probe); err != nil {
			t.Fatalf("match on a parsed template: %v", err)
		}
	})
}
