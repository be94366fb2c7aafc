package eval

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// colourCount counts the pixels of img within a small distance of c
// (anti-aliasing blends the edges of every stroke).
func colourCount(img image.Image, c [3]uint8) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			d := absInt(int(r>>8)-int(c[0])) + absInt(int(g>>8)-int(c[1])) + absInt(int(bl>>8)-int(c[2]))
			if d <= 24 {
				n++
			}
		}
	}
	return n
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestWriteDETPNG(t *testing.T) {
	res := smallEval(t, 0)
	var buf bytes.Buffer
	require.NoError(t, WriteDET(&buf, res, DETPNG, DETWidth, DETHeight))
	img, err := png.Decode(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, DETWidth, DETHeight), img.Bounds())
	assert.Less(t, buf.Len(), 200<<10)

	// the curve, the operating point, the CDD and goal lines and the
	// axes are drawn in their colours
	for name, c := range map[string][3]uint8{
		"curve": {colCurve.R, colCurve.G, colCurve.B},
		"point": {colPoint.R, colPoint.G, colPoint.B},
		"CDD":   {colCDD.R, colCDD.G, colCDD.B},
		"goal":  {colGoal.R, colGoal.G, colGoal.B},
		"axes":  {0, 0, 0},
	} {
		assert.Greater(t, colourCount(img, c), 50, name)
	}

	// a different size is honoured
	buf.Reset()
	require.NoError(t, WriteDET(&buf, res, DETPNG, 400, 330))
	cfg, err := png.DecodeConfig(&buf)
	require.NoError(t, err)
	assert.Equal(t, [2]int{400, 330}, [2]int{cfg.Width, cfg.Height})
}

func TestWriteDETSVG(t *testing.T) {
	res := smallEval(t, 0)
	var buf bytes.Buffer
	require.NoError(t, WriteDET(&buf, res, DETSVG, DETWidth, DETHeight))
	texts := strings.Join(testkit.SVGTexts(t, buf.Bytes()), "\n")
	for _, want := range []string{DETXLabel, DETYLabel, DETPointLabel(res.Threshold),
		"CDD 7.3.10: FAR <= 0.002% (1/50000)", "fpemu goal: FRR <= 5%", "DET curve: " + res.Matcher + " matcher, 40 fingers, seed 7", "1e-5"} {
		assert.Contains(t, texts, want)
	}
	// 800×600 CSS pixels are 600×450 pt
	assert.Contains(t, buf.String(), `width="600pt" height="450pt"`)
}

// Degenerate results draw without a panic: no scores at all, rates of 0
// and 1 everywhere, a threshold above every score.
func TestWriteDETDegenerate(t *testing.T) {
	for name, r := range map[string]*EvalResult{
		"empty":        {Matcher: "m", Fingers: 2},
		"no impostors": {Matcher: "m", Genuine: []float64{1, 2, 3}, Threshold: 2},
		"perfect":      {Matcher: "m", Genuine: []float64{50, 60}, Impostor: []float64{1, 2, 3}, Threshold: 40},
		"all accepted": {Matcher: "m", Genuine: []float64{50}, Impostor: []float64{60, 70}, Threshold: 1},
		"above all":    {Matcher: "m", Genuine: []float64{5}, Impostor: []float64{1}, Threshold: 1e9},
	} {
		t.Run(name, func(t *testing.T) {
			for _, f := range []DETFormat{DETPNG, DETSVG} {
				var buf bytes.Buffer
				require.NoError(t, WriteDET(&buf, r, f, minDETSide, minDETSide), f)
				assert.NotZero(t, buf.Len())
			}
		})
	}
}

func TestWriteDETRefuses(t *testing.T) {
	res := &EvalResult{Matcher: "m", Genuine: []float64{5}, Impostor: []float64{1}}
	for _, sz := range [][2]int{{0, 600}, {800, 100}, {maxDETSide + 1, 600}, {800, -1}} {
		assert.ErrorIs(t, WriteDET(&bytes.Buffer{}, res, DETPNG, sz[0], sz[1]), ErrDETSize, "%v", sz)
	}
	for _, f := range []DETFormat{"", "jpg", "PNG", "pdf"} {
		assert.ErrorIs(t, WriteDET(&bytes.Buffer{}, res, f, DETWidth, DETHeight), ErrDETFormat, "%q", f)
	}
}

func TestParseDETFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DETFormat
		err  bool
	}{
		{"png", DETPNG, false},
		{".png", DETPNG, false},
		{"PNG", DETPNG, false},
		{".SVG", DETSVG, false},
		{"svg", DETSVG, false},
		{"", "", true},
		{".", "", true},
		{"jpeg", "", true},
		{".png.gz", "", true},
	} {
		got, err := ParseDETFormat(tc.in)
		if tc.err {
			assert.ErrorIs(t, err, ErrDETFormat, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestDecadeTicks(t *testing.T) {
	ticks := decadeTicks{}.Ticks(1e-3, 1)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	assert.Equal(t, []string{"1e-3", "0.01", "0.1", "1"}, labels)
	assert.Len(t, ticks, 4+3*8)
	for _, r := range [][2]float64{{0, 1}, {-1, 1}, {1, 0.5}} {
		assert.Empty(t, decadeTicks{}.Ticks(r[0], r[1]), "%v", r)
	}
}

func TestDETMonotone(t *testing.T) {
	det := smallEval(t, 0).DET()
	require.NotEmpty(t, det)
	assert.Equal(t, 1.0, det[0].FAR, "at the lowest score everything is accepted")
	assert.Zero(t, det[0].FRR)
	assert.Zero(t, det[len(det)-1].FAR, "above the highest score nothing is")
	assert.Equal(t, 1.0, det[len(det)-1].FRR)
	for i := 1; i < len(det); i++ {
		assert.Greater(t, det[i].Threshold, det[i-1].Threshold)
		assert.LessOrEqual(t, det[i].FAR, det[i-1].FAR)
		assert.GreaterOrEqual(t, det[i].FRR, det[i-1].FRR)
	}
}
