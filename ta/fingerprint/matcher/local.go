package matcher

import "math"

// Local structure: every minutia is described by its nearest neighbours,
// each as (distance, direction of the neighbour relative to the minutia's
// own direction, neighbour direction relative to the minutia's direction).
// These are invariant to rotation and translation, so two minutiae of
// different impressions of one finger have similar descriptions however the
// finger was placed (a "K-plet" local structure, as in Jiang & Yau 2000 and
// Chikkerur et al. 2006).
const (
	nbK       = 6     // neighbours per minutia
	nbMaxDist = 120.0 // px; farther minutiae are not neighbours
	nbMinDist = 4.0   // px; closer ones are duplicates, not structure

	tolDistAbs float32 = 6.0  // px, neighbour distance tolerance ...
	tolDistRel float32 = 0.08 // ... plus this fraction of the distance
	tolPhi             = 14   // 1/256 turn (≈ 20°), relative direction to the neighbour
	tolPsi             = 18   // 1/256 turn (≈ 25°), relative neighbour direction
)

// neighbor is one entry of a local structure; angles are in 1/256 turn so
// that they wrap around for free.
type neighbor struct {
	d        float32
	phi, psi uint8
}

// turn256 converts radians to 1/256 turn, wrapping.
func turn256(a float64) uint8 {
	return uint8(int(math.Round(a*(256/(2*math.Pi)))) & 0xff)
}

// diff256 is the absolute difference of two angles in 1/256 turn, 0..128.
func diff256(a, b uint8) int {
	d := int(int8(a - b))
	if d < 0 {
		d = -d
	}
	return d
}

// prepared is a minutiae set with the derived data matching needs. It is
// immutable once built.
type prepared struct {
	m     []Minutia
	nb    []neighbor // nbK slots per minutia, sorted by distance
	nbN   []uint8    // used slots per minutia
	grid  *grid      // templates only: minutiae by position
	index *nbIndex   // templates only: local structures by shape
}

// prepareTemplate is prepare plus the position grid pairing needs.
func prepareTemplate(ms []Minutia) *prepared {
	p := prepare(ms)
	p.grid = newGrid(ms)
	p.index = newNbIndex(p)
	return p
}

func prepare(ms []Minutia) *prepared {
	n := len(ms)
	p := &prepared{
		m:   ms,
		nb:  make([]neighbor, n*nbK),
		nbN: make([]uint8, n),
	}
	var idx [nbK]int
	var dist [nbK]float64
	for i, mi := range ms {
		k := 0
		for j, mj := range ms {
			if i == j {
				continue
			}
			dx, dy := mj.X-mi.X, mj.Y-mi.Y
			d2 := dx*dx + dy*dy
			if d2 > nbMaxDist*nbMaxDist || d2 < nbMinDist*nbMinDist {
				continue
			}
			// insertion into the sorted k-best list
			if k == nbK && d2 >= dist[k-1] {
				continue
			}
			pos := k
			if k < nbK {
				k++
			} else {
				pos = nbK - 1
			}
			for pos > 0 && dist[pos-1] > d2 {
				dist[pos], idx[pos] = dist[pos-1], idx[pos-1]
				pos--
			}
			dist[pos], idx[pos] = d2, j
		}
		p.nbN[i] = uint8(k)
		for s := 0; s < k; s++ {
			mj := ms[idx[s]]
			dx, dy := mj.X-mi.X, mj.Y-mi.Y
			p.nb[i*nbK+s] = neighbor{
				d:   float32(math.Sqrt(dist[s])),
				phi: turn256(math.Atan2(dy, dx) - mi.Angle),
				psi: turn256(mj.Angle - mi.Angle),
			}
		}
	}
	return p
}

// dWindow is the range of neighbour distances that agree with a's
// (tolDistAbs plus tolDistRel of a's distance); findSeeds votes with it.
func (a neighbor) dWindow() (lo, hi float32) {
	tol := tolDistAbs + tolDistRel*a.d
	return a.d - tol, a.d + tol
}

// localSim counts the neighbours of probe minutia i that have a
// counterpart among the neighbours of template minutia j (one-to-one).
func localSim(p *prepared, i int, t *prepared, j int) int {
	pn := p.nb[i*nbK : i*nbK+int(p.nbN[i])]
	tn := t.nb[j*nbK : j*nbK+int(t.nbN[j])]
	var used uint32
	cnt := 0
	lo := 0
	for _, a := range pn {
		tol := tolDistAbs + tolDistRel*a.d
		for lo < len(tn) && tn[lo].d < a.d-tol {
			lo++
		}
		for s := lo; s < len(tn); s++ {
			b := tn[s]
			if b.d > a.d+tol {
				break
			}
			if used&(1<<s) != 0 {
				continue
			}
			if diff256(a.phi, b.phi) <= tolPhi && diff256(a.psi, b.psi) <= tolPsi {
				used |= 1 << s
				cnt++
				break
			}
		}
	}
	return cnt
}
