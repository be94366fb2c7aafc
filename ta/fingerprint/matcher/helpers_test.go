package matcher

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// testFinger is a bare random minutiae set over a 320×420 px print, enough
// to exercise the matcher without the sim/finger model (which TA-side
// code must not import).
func testFinger(seed uint64, n int) []Minutia {
	r := rand.New(rand.NewPCG(seed, 42))
	var ms []Minutia
	for len(ms) < n {
		x, y := r.Float64()*320-160, r.Float64()*420-210
		ok := true
		for _, m := range ms {
			if math.Hypot(m.X-x, m.Y-y) < 10 {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		ms = append(ms, Minutia{
			X: x, Y: y, Angle: r.Float64() * 2 * math.Pi,
			Kind: RidgeEnding + Kind(r.IntN(2)), Quality: uint8(40 + r.IntN(61)),
		})
	}
	return ms
}

// capture is a test impression: finger point (cx, cy) lands on the centre
// of a w×h window, the finger turned by rot radians, positions jittered by
// sigma px and angles by sigma/40 rad (noise drawn from noise).
func capture(finger []Minutia, cx, cy, rot float64, w, h int, sigma float64, noise uint64) Sample {
	r := rand.New(rand.NewPCG(noise, 7))
	s, c := math.Sincos(rot)
	out := Sample{Width: w, Height: h}
	for _, m := range finger {
		dx, dy := m.X-cx, m.Y-cy
		x := c*dx - s*dy + float64(w)/2 + r.NormFloat64()*sigma
		y := s*dx + c*dy + float64(h)/2 + r.NormFloat64()*sigma
		if x < 0 || y < 0 || x >= float64(w) || y >= float64(h) {
			continue
		}
		out.Minutiae = append(out.Minutiae, Minutia{
			X: x, Y: y, Angle: NormAngle(m.Angle + rot + r.NormFloat64()*sigma/40),
			Kind: m.Kind, Quality: m.Quality,
		})
	}
	slices.SortFunc(out.Minutiae, func(a, b Minutia) int {
		if c := cmp.Compare(a.Y, b.Y); c != 0 {
			return c
		}
		return cmp.Compare(a.X, b.X)
	})
	return out
}

// enrollTest enrolls finger from five touches around (0, 0).
func enrollTest(m *Minutiae, finger []Minutia, noise uint64) (Template, error) {
	var ss []Sample
	for k, off := range [][2]float64{{0, 0}, {40, 0}, {-40, 0}, {0, 40}, {0, -40}} {
		ss = append(ss, capture(finger, off[0], off[1], 0.05*float64(k-2), 200, 200, 1, noise+uint64(k)))
	}
	return m.Enroll(ss)
}
