package eval

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// DET image defaults and bounds.
const (
	DETWidth     = 800
	DETHeight    = 600
	minDETSide   = 320
	maxDETSide   = 4096
	cddMaxFAR    = 1.0 / 50000 // Android CDD §7.3.10, strong biometric
	targetMaxFRR = 0.05
)

// ErrDETSize is returned for an image size out of bounds.
var ErrDETSize = errors.New("finger: DET image size out of bounds")

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
	colWhite = color.RGBA{255, 255, 255, 255}
	colBlack = color.RGBA{0, 0, 0, 255}
	colGrid  = color.RGBA{215, 215, 215, 255}
	colMinor = color.RGBA{238, 238, 238, 255}
	colCurve = color.RGBA{25, 80, 200, 255}
	colPoint = color.RGBA{210, 30, 30, 255}
	colGoal  = color.RGBA{30, 150, 60, 255}
	colText  = color.RGBA{40, 40, 40, 255}
)

// WriteDET draws the detection error trade-off curve of r as a PNG: FAR
// (x) against FRR (y), both on log axes down to about one error in the
// number of comparisons made, with the CDD FAR bound and the 5 % FRR goal
// dashed and the operating point at r.Threshold marked. Rates of 0 are
// drawn on the axis they cannot reach.
func WriteDET(w io.Writer, r *EvalResult, width, height int) error {
	if width < minDETSide || height < minDETSide || width > maxDETSide || height > maxDETSide {
		return fmt.Errorf("%w: %dx%d, each side %d..%d", ErrDETSize, width, height, minDETSide, maxDETSide)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	const left, right, top, bottom = 100, 30, 50, 70
	pl := plot{x0: left, x1: width - right, y0: top, y1: height - bottom}
	pl.xmin = decadeFloor(0.5 / float64(max(len(r.Impostor), 1)))
	pl.ymin = decadeFloor(0.5 / float64(max(len(r.Genuine), 1)))

	// grid: decades and their 2..9 subdivisions
	for d := pl.xmin; d <= 0; d++ {
		for k := 2; k <= 9 && d < 0; k++ {
			x := pl.x(float64(k) * math.Pow(10, float64(d)))
			vline(img, x, pl.y0, pl.y1, colMinor, 0)
		}
		x := pl.x(math.Pow(10, float64(d)))
		vline(img, x, pl.y0, pl.y1, colGrid, 0)
		lab := decadeLabel(d)
		drawText(img, x-textWidth(lab, 2)/2, pl.y1+10, lab, 2, colText)
	}
	for d := pl.ymin; d <= 0; d++ {
		for k := 2; k <= 9 && d < 0; k++ {
			y := pl.y(float64(k) * math.Pow(10, float64(d)))
			hline(img, pl.x0, pl.x1, y, colMinor, 0)
		}
		y := pl.y(math.Pow(10, float64(d)))
		hline(img, pl.x0, pl.x1, y, colGrid, 0)
		lab := decadeLabel(d)
		drawText(img, pl.x0-10-textWidth(lab, 2), y-7, lab, 2, colText)
	}

	// goals
	if gx := pl.x(cddMaxFAR); gx > pl.x0 {
		vline(img, gx, pl.y0, pl.y1, colGoal, 8)
		drawTextUp(img, gx+4, pl.y1-6, "CDD FAR 1/50000", 1, colGoal)
	}
	gy := pl.y(targetMaxFRR)
	hline(img, pl.x0, pl.x1, gy, colGoal, 8)
	drawText(img, pl.x1-textWidth("FRR 5%", 1)-4, gy-10, "FRR 5%", 1, colGoal)

	// the curve
	det := r.DET()
	px, py := -1.0, -1.0
	for i, p := range det {
		x, y := pl.fx(p.FAR), pl.fy(p.FRR)
		if i > 0 {
			segment(img, px, py, x, y, colCurve)
		}
		px, py = x, y
	}

	// frame, drawn over the curve's clamped ends
	hline(img, pl.x0, pl.x1, pl.y0, colBlack, 0)
	hline(img, pl.x0, pl.x1, pl.y1, colBlack, 0)
	vline(img, pl.x0, pl.y0, pl.y1, colBlack, 0)
	vline(img, pl.x1, pl.y0, pl.y1, colBlack, 0)

	// operating point
	far, frr := r.Rates(r.Threshold)
	disc(img, pl.fx(far), pl.fy(frr), 5, colPoint)
	op := fmt.Sprintf("THRESHOLD %g: FAR %d/%d, FRR %d/%d (%.2f%%)", r.Threshold,
		r.FalseAccepts, r.ImpostorComparisons, r.FalseRejects, r.GenuineComparisons, 100*frr)
	drawText(img, pl.x0+10, pl.y0+10, op, 1, colPoint)
	drawText(img, pl.x0+10, pl.y0+22, "RATES OF 0 ARE DRAWN ON THE AXES", 1, colText)

	// titles
	title := strings.ToUpper(fmt.Sprintf("DET %s: %d fingers, seed %d", r.Matcher, r.Fingers, r.Seed))
	drawText(img, (width-textWidth(title, 2))/2, 15, title, 2, colBlack)
	xl := "FALSE ACCEPT RATE (FAR)"
	drawText(img, (pl.x0+pl.x1-textWidth(xl, 2))/2, height-28, xl, 2, colBlack)
	yl := "FALSE REJECT RATE (FRR)"
	drawTextUp(img, 10, (pl.y0+pl.y1+textWidth(yl, 2))/2, yl, 2, colBlack)

	enc := png.Encoder{CompressionLevel: png.BestCompression}
	return enc.Encode(w, img)
}

// plot maps rates to pixels on log axes from 10^xmin (10^ymin) to 1.
type plot struct {
	x0, x1, y0, y1 int
	xmin, ymin     int // decades
}

func (p plot) fx(rate float64) float64 {
	l := math.Log10(max(rate, math.Pow(10, float64(p.xmin))))
	return float64(p.x0) + (l-float64(p.xmin))/float64(-p.xmin)*float64(p.x1-p.x0)
}

func (p plot) fy(rate float64) float64 {
	l := math.Log10(max(rate, math.Pow(10, float64(p.ymin))))
	return float64(p.y1) - (l-float64(p.ymin))/float64(-p.ymin)*float64(p.y1-p.y0)
}

func (p plot) x(rate float64) int { return int(math.Round(p.fx(rate))) }
func (p plot) y(rate float64) int { return int(math.Round(p.fy(rate))) }

// decadeFloor is the decade at or below v, at most -1 and at least -9.
func decadeFloor(v float64) int {
	return min(max(int(math.Floor(math.Log10(v))), -9), -1)
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

// hline and vline draw a line, dashed with the given period (0: solid).
func hline(img *image.RGBA, x0, x1, y int, c color.RGBA, dash int) {
	for x := x0; x <= x1; x++ {
		if dash == 0 || (x-x0)%dash < dash/2 {
			setPx(img, x, y, c)
		}
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA, dash int) {
	for y := y0; y <= y1; y++ {
		if dash == 0 || (y-y0)%dash < dash/2 {
			setPx(img, x, y, c)
		}
	}
}

// segment draws a 2-pixel-wide line between two points.
func segment(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	n := int(math.Ceil(2*math.Max(math.Abs(x1-x0), math.Abs(y1-y0)))) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		x := int(math.Round(x0 + t*(x1-x0)))
		y := int(math.Round(y0 + t*(y1-y0)))
		setPx(img, x, y, c)
		setPx(img, x+1, y, c)
		setPx(img, x, y+1, c)
		setPx(img, x+1, y+1, c)
	}
}

func disc(img *image.RGBA, cx, cy float64, r int, c color.RGBA) {
	x0, y0 := int(math.Round(cx)), int(math.Round(cy))
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if dx*dx+dy*dy <= r*r {
				setPx(img, x0+dx, y0+dy, c)
			}
		}
	}
}
