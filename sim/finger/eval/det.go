package eval

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// DET image defaults and bounds, in pixels (CSS pixels, 1/96 in, for SVG).
const (
	DETWidth   = 800
	DETHeight  = 600
	minDETSide = 320
	maxDETSide = 4096
)

// Guide lines drawn on the DET plot.
const (
	// CDDMaxFAR is Android CDD §7.3.10 (fingerprint sensors): "MUST have
	// a false acceptance rate not higher than 0.002%".
	CDDMaxFAR = 1.0 / 50000
	// CDDMaxFRR is the same section's "STRONGLY RECOMMENDED to have a
	// false rejection rate not higher than 10%".
	CDDMaxFRR = 0.10
	// GoalMaxFRR is fpemu's own, stricter FRR goal for the reference
	// matcher (`fpemu eval matcher --check`).
	GoalMaxFRR = 0.05
)

// DETFormat is an image format WriteDET can write.
type DETFormat string

// The formats of WriteDET.
const (
	DETPNG DETFormat = "png"
	DETSVG DETFormat = "svg"
)

// Errors of WriteDET and ParseDETFormat.
var (
	// ErrDETSize: an image side out of minDETSide..maxDETSide.
	ErrDETSize = errors.New("finger: DET image size out of bounds")
	// ErrDETFormat: a format other than png or svg.
	ErrDETFormat = errors.New("finger: unknown DET image format")
)

// ParseDETFormat returns the format named s ("png", "svg", any case, with
// or without a leading dot, as filepath.Ext returns it).
func ParseDETFormat(s string) (DETFormat, error) {
	switch f := DETFormat(strings.ToLower(strings.TrimPrefix(s, "."))); f {
	case DETPNG, DETSVG:
		return f, nil
	}
	return "", fmt.Errorf("%w %q: want png or svg", ErrDETFormat, s)
}

// DETPoint is the error trade-off at one threshold.
type DETPoint struct {
	Threshold, FAR, FRR float64
}

// DET returns FAR and FRR at every threshold that changes either, from
// the lowest score (FRR 0) to just above the highest (FAR 0).
func (r *EvalResult) DET() []DETPoint {
	ts := thresholds(r.Genuine, r.Impostor)
	out := make([]DETPoint, len(ts))
	for i, t := range ts {
		far, frr := r.Rates(t)
		out[i] = DETPoint{Threshold: t, FAR: far, FRR: frr}
	}
	return out
}

var (
	colCurve = color.RGBA{25, 80, 200, 255}
	colPoint = color.RGBA{210, 30, 30, 255}
	colCDD   = color.RGBA{30, 150, 60, 255}
	colGoal  = color.RGBA{220, 130, 0, 255}
	colGrid  = color.RGBA{215, 215, 215, 255}
)

// Text of the plot, also what tests look for in the SVG.
const (
	DETXLabel = "False accept rate FAR (= FMR: no failures to acquire)"
	DETYLabel = "False reject rate FRR (= FNMR)"
)

// WriteDET draws the detection error trade-off curve of r (the DET of
// ISO/IEC 19795-1, here on log–log axes) with gonum.org/v1/plot: FAR (x) against FRR (y), each axis from one
// decade below one error in the comparisons made (the x axis at least
// down to the CDD bound) up to 1; the CDD FAR
// bound, the CDD's recommended FRR and fpemu's FRR goal as dashed guide
// lines; and the operating point at r.Threshold marked and labelled.
// Rates of 0, which a log axis cannot show, are drawn on the axis. The
// image is width×height pixels; SVG is sized in CSS pixels.
func WriteDET(w io.Writer, r *EvalResult, format DETFormat, width, height int) error {
	if width < minDETSide || height < minDETSide || width > maxDETSide || height > maxDETSide {
		return fmt.Errorf("%w: %dx%d, each side %d..%d", ErrDETSize, width, height, minDETSide, maxDETSide)
	}
	if format != DETPNG && format != DETSVG {
		return fmt.Errorf("%w %q: want png or svg", ErrDETFormat, format)
	}
	p, err := detPlot(r)
	if err != nil {
		return err
	}
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case DETPNG:
		img := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, width, height))), vgimg.UseDPI(vgimg.DefaultDPI))
		c = vgimg.PngCanvas{Canvas: img}
	case DETSVG:
		px := vg.Inch / vgimg.DefaultDPI
		c = vgsvg.New(vg.Length(width)*px, vg.Length(height)*px)
	}
	drawDET(p, draw.New(c))
	_, err = c.WriteTo(w)
	return err
}

// detPlot builds the plot of r.
func detPlot(r *EvalResult) (*plot.Plot, error) {
	// the x axis always reaches the CDD bound, even when too few
	// comparisons were made to show a FAR that low
	xmin := min(decadeFloor(0.5/float64(max(len(r.Impostor), 1))), decadeFloor(CDDMaxFAR))
	ymin := decadeFloor(0.5 / float64(max(len(r.Genuine), 1)))
	clampX := func(v float64) float64 { return min(max(v, xmin), 1) }
	clampY := func(v float64) float64 { return min(max(v, ymin), 1) }

	p := plot.New()
	p.Title.Text = fmt.Sprintf("DET curve: %s matcher, %d fingers, seed %d", r.Matcher, r.Fingers, r.Seed)
	// the axis labels are drawn by drawDET
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = decadeTicks{}, decadeTicks{}
	leg := plot.NewLegend()
	leg.Top = true
	leg.Padding = vg.Points(2)
	leg.TextStyle.Font.Size = vg.Points(10)

	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = colGrid, colGrid
	grid.Vertical.Width, grid.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(grid)

	// the curve, thinned to the points that move it visibly
	det := r.DET()
	pts := make(plotter.XYs, 0, min(len(det), 4096))
	const step = 1.0 / 2000 // of an axis, in decades
	spanX, spanY := -math.Log10(xmin), -math.Log10(ymin)
	for i, d := range det {
		pt := plotter.XY{X: clampX(d.FAR), Y: clampY(d.FRR)}
		if n := len(pts); n > 0 && i < len(det)-1 {
			dx := math.Abs(math.Log10(pt.X)-math.Log10(pts[n-1].X)) / spanX
			dy := math.Abs(math.Log10(pt.Y)-math.Log10(pts[n-1].Y)) / spanY
			if max(dx, dy) < step {
				continue
			}
		}
		pts = append(pts, pt)
	}
	if len(pts) > 0 {
		curve, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("finger: DET curve: %w", err)
		}
		curve.Color, curve.Width = colCurve, vg.Points(1.5)
		p.Add(curve)
		leg.Add("DET curve (rates of 0 drawn on the axes)", curve)
	}

	// guide lines
	dashed := []vg.Length{vg.Points(5), vg.Points(3)}
	for _, g := range []struct {
		name     string
		col      color.Color
		vertical bool
		at       float64
	}{
		{"CDD 7.3.10: FAR <= 0.002% (1/50000)", colCDD, true, CDDMaxFAR},
		{"CDD 7.3.10: FRR <= 10% (strongly recommended)", colCDD, false, CDDMaxFRR},
		{fmt.Sprintf("fpemu goal: FRR <= %.0f%%", 100*GoalMaxFRR), colGoal, false, GoalMaxFRR},
	} {
		xy := plotter.XYs{{X: xmin, Y: g.at}, {X: 1, Y: g.at}}
		if g.vertical {
			xy = plotter.XYs{{X: g.at, Y: ymin}, {X: g.at, Y: 1}}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("finger: DET guide: %w", err)
		}
		l.Color, l.Dashes, l.Width = g.col, dashed, vg.Points(1)
		p.Add(l)
		leg.Add(g.name, l)
	}

	// the operating point
	far, frr := r.Rates(r.Threshold)
	op := plotter.XYs{{X: clampX(far), Y: clampY(frr)}}
	dot, err := plotter.NewScatter(op)
	if err != nil {
		return nil, fmt.Errorf("finger: DET operating point: %w", err)
	}
	dot.GlyphStyle = draw.GlyphStyle{Color: colPoint, Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
	p.Add(dot)
	leg.Add(fmt.Sprintf("operating point: FAR %d/%d, FRR %d/%d (%.2f%%)",
		r.FalseAccepts, r.ImpostorComparisons, r.FalseRejects, r.GenuineComparisons, 100*frr), dot)
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: op, Labels: []string{DETPointLabel(r.Threshold)}})
	if err != nil {
		return nil, fmt.Errorf("finger: DET operating point: %w", err)
	}
	lab.TextStyle[0].Color = colPoint
	lab.Offset = vg.Point{X: vg.Points(7), Y: vg.Points(4)}
	if math.Log10(op[0].X)/math.Log10(xmin) < 0.35 { // near the right edge: label to the left
		lab.TextStyle[0].XAlign = draw.XRight
		lab.Offset.X = -lab.Offset.X
	}
	p.Add(lab, dataLegend{leg})

	// Add widened the axes to the data; the DET's axes are fixed.
	p.X.Min, p.X.Max = xmin, 1
	p.Y.Min, p.Y.Max = ymin, 1
	return p, nil
}

// drawDET draws p on c with DETXLabel and DETYLabel centred on the data
// area. plot.Plot would place them itself, but with a log scale its
// layout takes the arithmetic mean of the axis range for the label's
// centre and leaves a wide empty margin at the right and top.
func drawDET(p *plot.Plot, c draw.Canvas) {
	sty := p.Title.TextStyle
	sty.Font.Size = vg.Points(11)
	sty.YAlign = draw.YBottom
	h := sty.Height(DETXLabel) + vg.Points(4)
	inner := draw.Crop(c, h, -vg.Points(10), h, -vg.Points(4))
	p.Draw(inner)
	data := p.DataCanvas(inner)
	c.FillText(sty, vg.Point{X: data.Center().X, Y: c.Min.Y + vg.Points(2)}, DETXLabel)
	sty.Rotation = math.Pi / 2
	c.FillText(sty, vg.Point{X: c.Min.X + h - vg.Points(2), Y: data.Center().Y}, DETYLabel)
}

// dataLegend draws a legend in the top right corner of the data area, on
// a white ground, where plot.Plot would draw it over the title and axes.
type dataLegend struct{ plot.Legend }

func (l dataLegend) Plot(c draw.Canvas, _ *plot.Plot) {
	c = padCanvas(c, vg.Points(6))
	r := l.Rectangle(c)
	m := vg.Points(3)
	c.FillPolygon(color.White, c.ClipPolygonXY([]vg.Point{
		{X: r.Min.X - m, Y: r.Min.Y - m}, {X: r.Max.X + m, Y: r.Min.Y - m},
		{X: r.Max.X + m, Y: r.Max.Y + m}, {X: r.Min.X - m, Y: r.Max.Y + m},
	}))
	l.Draw(c)
}

// padCanvas shrinks c by d on every side.
func padCanvas(c draw.Canvas, d vg.Length) draw.Canvas {
	c.Min.X += d
	c.Min.Y += d
	c.Max.X -= d
	c.Max.Y -= d
	return c
}

// DETPointLabel is the label beside the operating point.
func DETPointLabel(threshold float64) string {
	return fmt.Sprintf("threshold %g", threshold)
}

// decadeTicks labels every decade and marks 2..9 of each as minor ticks.
// Unlike plot.LogTicks it never panics: a range that is not positive
// gets no ticks.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) {
		return nil
	}
	var ticks []plot.Tick
	for d := int(math.Floor(math.Log10(lo))); d <= int(math.Ceil(math.Log10(hi))); d++ {
		v := math.Pow10(d)
		if v >= lo && v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: decadeLabel(d)})
		}
		for k := 2; k <= 9; k++ {
			if m := float64(k) * v; m >= lo && m <= hi {
				ticks = append(ticks, plot.Tick{Value: m})
			}
		}
	}
	return ticks
}

// decadeFloor is 10 to the decade at or below v, at most 0.1 and at
// least 1e-9.
func decadeFloor(v float64) float64 {
	d := -1
	if v > 0 {
		d = min(max(int(math.Floor(math.Log10(v))), -9), -1)
	}
	return math.Pow10(d)
}

func decadeLabel(d int) string {
	switch d {
	case 0:
		return "1"
	case -1:
		return "0.1"
	case -2:
		return "0.01"
	}
	return fmt.Sprintf("1e%d", d)
}
