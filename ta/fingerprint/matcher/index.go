package matcher

// nbIndex is a geometric hash of a template's local structures: every
// neighbour entry (distance, φ, ψ) is filed under its bin and the adjacent
// bins, so a probe neighbour finds its candidate counterparts with one
// lookup instead of a scan of the whole template.
//
// The bins are at least as wide as the tolerances of localSim, so the
// adjacent bins hold every entry within tolerance.
const (
	idxDBits   = 3 // 8 distance bins of 16 px (nbMaxDist = 120)
	idxPhiBits = 4 // 16 φ bins of 16/256 turn (tolPhi = 14)
	idxPsiBits = 3 // 8 ψ bins of 32/256 turn (tolPsi = 18)
	idxDWidth  = 16.0
	idxBins    = 1 << (idxDBits + idxPhiBits + idxPsiBits)
)

type idxEntry struct {
	j    uint16 // template minutia
	slot uint8  // neighbour slot of j
}

type nbIndex struct {
	start   []int32 // bin b holds entries[start[b]:start[b+1]]
	entries []idxEntry
}

func idxKey(db, pb, sb int) int {
	return (db<<idxPhiBits|pb)<<idxPsiBits | sb
}

func idxBinsOf(n neighbor) (db, pb, sb int) {
	return min(int(n.d/idxDWidth), 1<<idxDBits-1), int(n.phi >> (8 - idxPhiBits)), int(n.psi >> (8 - idxPsiBits))
}

// forDilated calls fn with the keys of n's bin and its 26 neighbours
// (distance clipped at the ends, angles wrapping around).
func forDilated(n neighbor, fn func(key int)) {
	db, pb, sb := idxBinsOf(n)
	const pm, sm = 1<<idxPhiBits - 1, 1<<idxPsiBits - 1
	for d := db - 1; d <= db+1; d++ {
		if d < 0 || d >= 1<<idxDBits {
			continue
		}
		for p := pb - 1; p <= pb+1; p++ {
			for s := sb - 1; s <= sb+1; s++ {
				fn(idxKey(d, p&pm, s&sm))
			}
		}
	}
}

func newNbIndex(p *prepared) *nbIndex {
	x := &nbIndex{start: make([]int32, idxBins+1)}
	for j := range p.m {
		for s := 0; s < int(p.nbN[j]); s++ {
			forDilated(p.nb[j*nbK+s], func(key int) { x.start[key+1]++ })
		}
	}
	for b := 1; b <= idxBins; b++ {
		x.start[b] += x.start[b-1]
	}
	fill := append([]int32(nil), x.start[:idxBins]...)
	x.entries = make([]idxEntry, x.start[idxBins])
	for j := range p.m {
		for s := 0; s < int(p.nbN[j]); s++ {
			forDilated(p.nb[j*nbK+s], func(key int) {
				x.entries[fill[key]] = idxEntry{j: uint16(j), slot: uint8(s)}
				fill[key]++
			})
		}
	}
	return x
}
