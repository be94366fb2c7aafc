package finger

import (
	"math"
	"math/rand/v2"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

// Class is a Henry pattern class; it decides the orientation field's
// singular points.
type Class uint8

// Pattern classes, drawn with roughly the frequencies of NIST SD4/SD14.
const (
	Arch Class = iota
	TentedArch
	LeftLoop
	RightLoop
	Whorl
)

var classNames = [...]string{"arch", "tented-arch", "left-loop", "right-loop", "whorl"}

// String names the class.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Finger is a synthetic fingertip. Coordinates are pixels at 500 ppi in the
// finger's own frame: origin at the centre of the print, y towards the
// finger's base. It is immutable.
type Finger struct {
	Seed  uint64
	Class Class
	// SemiX, SemiY are the semi-axes of the elliptic print area.
	SemiX, SemiY float64
	// Minutiae in the finger frame, Quality being the minutia's intrinsic
	// clarity (how reliably a sensor sees it).
	Minutiae []sensorproto.Minutia

	theta0 float64 // global field rotation
	cores  [][2]float64
	deltas [][2]float64
}

// Finger generation parameters.
const (
	minMinutiae      = 40
	maxMinutiae      = 80
	minMinutiaSpace  = 10.0 // px, about one ridge period at 500 ppi
	bifurcationShare = 0.4
)

// finger and impression streams are separated by these PCG stream keys.
const (
	fingerStream     = 0x66696e6765722d31 // "finger-1"
	impressionStream = 0x696d707265737331 // "impress1"
)

// New returns the finger of a seed. The same seed always gives the same
// finger.
func New(seed uint64) *Finger {
	r := rand.New(rand.NewPCG(seed, fingerStream))
	f := &Finger{
		Seed:  seed,
		SemiX: 145 + 30*r.Float64(),
		SemiY: 195 + 40*r.Float64(),
	}
	f.theta0 = r.NormFloat64() * 0.12
	switch u := r.Float64(); {
	case u < 0.037:
		f.Class = Arch
	case u < 0.066:
		f.Class = TentedArch
		cx, cy := r.NormFloat64()*15, -10+r.NormFloat64()*20
		f.cores = [][2]float64{{cx, cy}}
		f.deltas = [][2]float64{{cx + r.NormFloat64()*5, cy + 40 + 25*r.Float64()}}
	case u < 0.721:
		f.Class = LeftLoop
		side := 1.0
		if u >= 0.404 {
			f.Class, side = RightLoop, -1
		}
		cx, cy := r.NormFloat64()*20, -20+r.NormFloat64()*20
		f.cores = [][2]float64{{cx, cy}}
		f.deltas = [][2]float64{{cx + side*(70+40*r.Float64()), cy + 90 + 50*r.Float64()}}
	default:
		f.Class = Whorl
		cx, cy := r.NormFloat64()*15, -15+r.NormFloat64()*15
		h := 12 + 15*r.Float64()
		f.cores = [][2]float64{{cx, cy - h}, {cx + r.NormFloat64()*6, cy + h}}
		f.deltas = [][2]float64{
			{cx - 90 - 40*r.Float64(), cy + 100 + 50*r.Float64()},
			{cx + 90 + 40*r.Float64(), cy + 100 + 50*r.Float64()},
		}
	}
	n := minMinutiae + r.IntN(maxMinutiae-minMinutiae+1)
	for tries := 0; len(f.Minutiae) < n && tries < 50*n; tries++ {
		x := (2*r.Float64() - 1) * f.SemiX
		y := (2*r.Float64() - 1) * f.SemiY
		if !f.inPrint(x, y, 0.97) || f.crowded(x, y) {
			continue
		}
		a := f.Orientation(x, y)
		if r.IntN(2) == 1 {
			a += math.Pi
		}
		k := sensorproto.RidgeEnding
		if r.Float64() < bifurcationShare {
			k = sensorproto.Bifurcation
		}
		f.Minutiae = append(f.Minutiae, sensorproto.Minutia{
			X: x, Y: y,
			Angle:   sensorproto.NormAngle(a + r.NormFloat64()*0.08),
			Kind:    k,
			Quality: uint8(40 + r.IntN(61)),
		})
	}
	return f
}

// inPrint reports whether (x, y) lies in the print ellipse scaled by s.
func (f *Finger) inPrint(x, y, s float64) bool {
	u, v := x/(f.SemiX*s), y/(f.SemiY*s)
	return u*u+v*v <= 1
}

func (f *Finger) crowded(x, y float64) bool {
	for _, m := range f.Minutiae {
		dx, dy := m.X-x, m.Y-y
		if dx*dx+dy*dy < minMinutiaSpace*minMinutiaSpace {
			return true
		}
	}
	return false
}

// Orientation is the ridge orientation at (x, y), in [0, π): the
// Sherlock–Monro zero-pole model, half the sum of the arguments to the
// cores minus half the sum of those to the deltas; arches get a smooth
// bowed field.
func (f *Finger) Orientation(x, y float64) float64 {
	th := f.theta0
	if f.Class == Arch {
		bow := 0.9 * math.Exp(-math.Pow((y+0.2*f.SemiY)/f.SemiY, 2))
		th += math.Atan(bow * math.Sin(math.Pi*x/(2*f.SemiX)) * 1.5)
	} else {
		for _, c := range f.cores {
			th += 0.5 * math.Atan2(y-c[1], x-c[0])
		}
		for _, d := range f.deltas {
			th -= 0.5 * math.Atan2(y-d[1], x-d[0])
		}
	}
	th = math.Mod(th, math.Pi)
	if th < 0 {
		th += math.Pi
	}
	return th
}
