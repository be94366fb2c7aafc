package finger

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

// Sensor is the capture window, in pixels at 500 ppi.
type Sensor struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// DefaultSensor is a 10.2 mm square capacitive sensor at 500 ppi, the size
// class of the rear and side-mounted sensors of Android phones.
var DefaultSensor = Sensor{Width: 200, Height: 200}

// Placement is how a finger touches the sensor: the knobs the sensor-control
// endpoint exposes to tests and simulations.
type Placement struct {
	// DX, DY is the point of the finger frame (pixels from the print
	// centre) that lands on the centre of the sensor window.
	DX float64 `json:"dx"`
	DY float64 `json:"dy"`
	// Rotation of the finger on the sensor, degrees; positive turns the
	// finger's x axis towards the sensor's y axis.
	Rotation float64 `json:"rotation"`
	// Area is the fraction of the window the finger covers, in (0, 1]:
	// below 1 the finger overhangs one edge (which edge is drawn from
	// Noise) and the sensor reports only the covered sub-window.
	Area float64 `json:"area"`
	// Pressure in [0, 1], 0.5 nominal: light touches have a smaller contact
	// area, firm ones more elastic distortion.
	Pressure float64 `json:"pressure"`
	// Quality in [0, 1], 1 a clean dry finger: lower quality means more
	// position and angle jitter, more missed, spurious and mistyped
	// minutiae.
	Quality float64 `json:"quality"`
	// Noise seeds this impression's random noise.
	Noise uint64 `json:"noise"`
}

// Nominal is a centred, clean, full-area placement.
var Nominal = Placement{Area: 1, Pressure: 0.5, Quality: 1}

// ErrInvalidPlacement is returned for placement or sensor parameters out of
// range.
var ErrInvalidPlacement = errors.New("finger: invalid placement")

// MaxOffset bounds |DX| and |DY|, in pixels.
const MaxOffset = 1000

// Validate checks the ranges documented on the fields.
func (p Placement) Validate() error {
	ok := func(v, lo, hi float64) bool { return v >= lo && v <= hi } // false for NaN
	switch {
	case !ok(p.DX, -MaxOffset, MaxOffset) || !ok(p.DY, -MaxOffset, MaxOffset):
		return fmt.Errorf("%w: offset (%g, %g) beyond ±%d px", ErrInvalidPlacement, p.DX, p.DY, MaxOffset)
	case !ok(p.Rotation, -360, 360):
		return fmt.Errorf("%w: rotation %g outside ±360°", ErrInvalidPlacement, p.Rotation)
	case !ok(p.Area, math.SmallestNonzeroFloat64, 1):
		return fmt.Errorf("%w: area %g outside (0, 1]", ErrInvalidPlacement, p.Area)
	case !ok(p.Pressure, 0, 1):
		return fmt.Errorf("%w: pressure %g outside [0, 1]", ErrInvalidPlacement, p.Pressure)
	case !ok(p.Quality, 0, 1):
		return fmt.Errorf("%w: quality %g outside [0, 1]", ErrInvalidPlacement, p.Quality)
	}
	return nil
}

// Validate checks the sensor size against the matcher's bounds.
func (s Sensor) Validate() error {
	if s.Width < 16 || s.Height < 16 || s.Width > sensorproto.MaxSensorSize || s.Height > sensorproto.MaxSensorSize {
		return fmt.Errorf("%w: sensor %dx%d outside 16..%d", ErrInvalidPlacement, s.Width, s.Height, sensorproto.MaxSensorSize)
	}
	return nil
}

// Impression noise model. Rates are per minutia unless noted.
const (
	missBase      = 0.04 // missed even on a perfect capture
	missLowQ      = 0.25 // extra at quality 0
	missWeak      = 0.15 // extra for an intrinsically unclear minutia
	missBorder    = 0.35 // extra within borderBand of the window edge
	borderBand    = 6.0  // px
	jitterPos     = 1.0  // px σ at quality 1 ...
	jitterPosLowQ = 2.5  // ... plus this at quality 0
	jitterAng     = 0.06 // rad σ at quality 1 ...
	jitterAngLowQ = 0.18 // ... plus this at quality 0
	flipBase      = 0.05 // wrong type (ending ↔ bifurcation)
	flipLowQ      = 0.15
	spuriousBase  = 0.6 // spurious minutiae per 40,000 px² covered ...
	spuriousLowQ  = 5.0 // ... plus this at quality 0
	distortion    = 3.0 // px amplitude of the elastic field at pressure 1
	scaleJitter   = 0.015
)

// Impress returns the sample the sensor extracts when the finger is placed
// on it. It is deterministic in (finger, sensor, placement).
func (f *Finger) Impress(s Sensor, p Placement) (sensorproto.Sample, error) {
	if err := s.Validate(); err != nil {
		return sensorproto.Sample{}, err
	}
	if err := p.Validate(); err != nil {
		return sensorproto.Sample{}, err
	}
	r := rand.New(rand.NewPCG(f.Seed^p.Noise*0x9e3779b97f4a7c15, impressionStream^p.Noise))
	q := p.Quality
	w, h := float64(s.Width), float64(s.Height)

	// Partial area: keep the covered sub-window only.
	x0, y0, x1, y1 := 0.0, 0.0, w, h
	if p.Area < 1 {
		switch r.IntN(4) {
		case 0:
			x1 = math.Ceil(w * p.Area)
		case 1:
			x0 = math.Floor(w * (1 - p.Area))
		case 2:
			y1 = math.Ceil(h * p.Area)
		default:
			y0 = math.Floor(h * (1 - p.Area))
		}
	}
	out := sensorproto.Sample{Width: int(x1 - x0), Height: int(y1 - y0)}

	// Contact: a light touch only presses the middle of the print.
	contact := 0.75 + 0.35*p.Pressure
	// Finger frame → sensor frame: elastic distortion about the contact
	// point, then rotation, then translation to the window centre.
	rot := p.Rotation * math.Pi / 180
	sr, cr := math.Sincos(rot)
	scale := 1 + r.NormFloat64()*scaleJitter*(0.5+p.Pressure)
	amp := distortion * p.Pressure
	k1, k2 := 2*math.Pi/(250+150*r.Float64()), 2*math.Pi/(250+150*r.Float64())
	ph1, ph2, ph3, ph4 := 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64()
	toSensor := func(x, y float64) (float64, float64) {
		dx, dy := (x-p.DX)*scale, (y-p.DY)*scale
		dx += amp * math.Sin(k1*dy+ph1) * math.Sin(k2*dx+ph2)
		dy += amp * math.Sin(k2*dx+ph3) * math.Sin(k1*dy+ph4)
		return cr*dx - sr*dy + w/2 - x0, sr*dx + cr*dy + h/2 - y0
	}
	inWindow := func(x, y float64) bool { return x >= 0 && x < x1-x0 && y >= 0 && y < y1-y0 }
	nearBorder := func(x, y float64) bool {
		return x < borderBand || y < borderBand || x >= x1-x0-borderBand || y >= y1-y0-borderBand
	}

	for _, m := range f.Minutiae {
		if !f.inPrint(m.X, m.Y, contact) {
			continue
		}
		x, y := toSensor(m.X, m.Y)
		pMiss := missBase + missLowQ*(1-q) + missWeak*(1-float64(m.Quality)/100)
		if nearBorder(x, y) {
			pMiss += missBorder
		}
		sigma := jitterPos + jitterPosLowQ*(1-q)
		x += r.NormFloat64() * sigma
		y += r.NormFloat64() * sigma
		a := m.Angle + rot + r.NormFloat64()*(jitterAng+jitterAngLowQ*(1-q))
		kind := m.Kind
		if r.Float64() < flipBase+flipLowQ*(1-q) {
			kind = 3 - kind // ending ↔ bifurcation
		}
		if r.Float64() < pMiss || !inWindow(x, y) {
			continue
		}
		out.Minutiae = append(out.Minutiae, sensorproto.Minutia{
			X: x, Y: y, Angle: sensorproto.NormAngle(a), Kind: kind,
			Quality: clampQuality(float64(m.Quality)*(0.6+0.4*q) + r.NormFloat64()*5),
		})
	}

	// Spurious minutiae: noise, scars, pores misread as ridge ends; they
	// follow the local ridge flow like real ones.
	covered := (x1 - x0) * (y1 - y0)
	for i, n := 0, poisson(r, covered/40000*(spuriousBase+spuriousLowQ*(1-q))); i < n; i++ {
		sx, sy := r.Float64()*(x1-x0), r.Float64()*(y1-y0)
		// back to the finger frame (ignoring the small distortion) to
		// check contact and read the orientation field
		ux, uy := sx+x0-w/2, sy+y0-h/2
		fx, fy := (cr*ux+sr*uy)/scale+p.DX, (-sr*ux+cr*uy)/scale+p.DY
		if !f.inPrint(fx, fy, contact) {
			continue
		}
		a := f.Orientation(fx, fy) + rot + r.NormFloat64()*0.15
		if r.IntN(2) == 1 {
			a += math.Pi
		}
		out.Minutiae = append(out.Minutiae, sensorproto.Minutia{
			X: sx, Y: sy, Angle: sensorproto.NormAngle(a),
			Kind:    sensorproto.RidgeEnding + sensorproto.Kind(r.IntN(2)),
			Quality: clampQuality(20 + 30*r.Float64()),
		})
	}

	// The sensor reports minutiae in scan order, which reveals nothing
	// about which finger minutia is which.
	slices.SortFunc(out.Minutiae, func(a, b sensorproto.Minutia) int {
		if c := cmp.Compare(a.Y, b.Y); c != 0 {
			return c
		}
		return cmp.Compare(a.X, b.X)
	})
	if len(out.Minutiae) > sensorproto.MaxSampleMinutiae {
		out.Minutiae = out.Minutiae[:sensorproto.MaxSampleMinutiae]
	}
	return out, nil
}

func clampQuality(v float64) uint8 {
	return uint8(math.Round(min(max(v, 0), sensorproto.MaxQuality)))
}

// poisson draws a Poisson variate (Knuth's method; λ is small here).
func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
