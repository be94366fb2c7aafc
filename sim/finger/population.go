package finger

import (
	"math"
	"math/rand/v2"
)

// placementStream separates a finger's placement draws from its shape.
const placementStream = 0x706c6163656d6e74 // "placemnt"

// FingerSeeds returns n finger seeds derived from a population seed.
func FingerSeeds(seed uint64, n int) []uint64 {
	r := rand.New(rand.NewPCG(seed, 0x706f70756c617465)) // "populate"
	out := make([]uint64, n)
	for i := range out {
		out[i] = r.Uint64()
	}
	return out
}

// EnrollPlacement is the k-th of n enrollment touches, as Android's
// enrollment UI asks for them: the first centred, the others moved around
// it so that the template covers more of the finger than the sensor does,
// all with a careful, firm touch.
func EnrollPlacement(r *rand.Rand, k, n int) Placement {
	p := Placement{
		Rotation: clamp(r.NormFloat64()*6, -20, 20),
		Area:     1,
		Pressure: 0.4 + 0.4*r.Float64(),
		Quality:  0.75 + 0.25*r.Float64(),
		Noise:    r.Uint64(),
	}
	if k == 0 || n < 2 {
		p.DX, p.DY = r.NormFloat64()*8, r.NormFloat64()*8
		return p
	}
	a := 2*math.Pi*float64(k-1)/float64(n-1) + r.NormFloat64()*0.2
	d := 45 + r.NormFloat64()*10
	p.DX, p.DY = d*math.Cos(a), d*math.Sin(a)
	return p
}

// ProbePlacement is an everyday unlock or payment touch: roughly centred,
// somewhat rotated, sometimes overhanging an edge, of varying pressure and
// quality.
func ProbePlacement(r *rand.Rand) Placement {
	p := Placement{
		DX:       clamp(r.NormFloat64()*25, -70, 70),
		DY:       clamp(r.NormFloat64()*25, -70, 70),
		Rotation: clamp(r.NormFloat64()*10, -35, 35),
		Area:     1,
		Pressure: 0.25 + 0.65*r.Float64(),
		Quality:  0.5 + 0.5*r.Float64(),
	}
	if r.Float64() < 0.1 {
		p.Area = 0.65 + 0.35*r.Float64()
	}
	p.Noise = r.Uint64()
	return p
}

// Touches returns a finger's enrollment and probe placements, deterministic
// in the finger seed.
func Touches(f *Finger, enroll, probes int) (enrollP, probeP []Placement) {
	r := rand.New(rand.NewPCG(f.Seed, placementStream))
	for k := 0; k < enroll; k++ {
		enrollP = append(enrollP, EnrollPlacement(r, k, enroll))
	}
	for k := 0; k < probes; k++ {
		probeP = append(probeP, ProbePlacement(r))
	}
	return enrollP, probeP
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
