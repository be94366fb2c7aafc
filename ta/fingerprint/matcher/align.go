package matcher

import (
	"math"
)

// Global consolidation parameters.
const (
	maxSeeds     = 8    // best local pairs tried as alignment seeds
	minSeedSim   = 2    // a seed's neighbourhoods must share this many neighbours
	pairDist     = 14.0 // px, paired minutiae are at most this far apart ...
	pairDistRel  = 0.04 // ... plus this fraction of their distance to the seed (distortion)
	pairDistMax  = 22.0 // px, cap of the above
	refineDist   = 12.0 // px, pairing distance after the least-squares refinement
	pairAngle    = 0.45 // rad, paired minutiae directions differ at most this much
	refineRounds = 1
	weightDist   = 14.0 // px, distance at which a pair's weight reaches 0
	kindMismatch = 0.7  // weight factor for an ending paired with a bifurcation
)

// rigid maps a probe point p to R(θ)·p + t in the template frame.
type rigid struct {
	cos, sin, tx, ty float64
	theta            float64
}

func (r rigid) apply(x, y float64) (float64, float64) {
	return r.cos*x - r.sin*y + r.tx, r.sin*x + r.cos*y + r.ty
}

func (r rigid) inverse(x, y float64) (float64, float64) {
	x, y = x-r.tx, y-r.ty
	return r.cos*x + r.sin*y, -r.sin*x + r.cos*y
}

// seedTransform aligns probe minutia i onto template minutia j.
func seedTransform(p *prepared, i int, t *prepared, j int) rigid {
	mi, mj := p.m[i], t.m[j]
	th := NormAngle(mj.Angle - mi.Angle)
	s, c := math.Sincos(th)
	r := rigid{cos: c, sin: s, theta: th}
	r.tx = mj.X - (c*mi.X - s*mi.Y)
	r.ty = mj.Y - (s*mi.X + c*mi.Y)
	return r
}

type seed struct {
	i, j, sim int
}

type pair struct {
	i, j int
	d2   float64
}

// scratch holds per-comparison buffers.
type scratch struct {
	seeds []seed
	cand  []pair
	pairs []pair
	alt   []pair
	best  []pair    // pairs of the best alignment so far
	tx    []float64 // transformed probe x
	ty    []float64 // transformed probe y
	ta    []float64 // transformed probe angles
	usedP []bool
	usedT []bool
	votes []uint8 // probe × template local-structure votes
}

// result is the best alignment found between a probe and a template.
type result struct {
	pairs  int     // one-to-one paired minutiae
	weight float64 // sum of the pairs' weights
	kinds  int     // of which the kinds agree
	inP    int     // probe minutiae inside the template's enrolled area
	inT    int     // template minutiae inside the probe window
	align  rigid   // probe → template
	paired []pair  // the pairs (only when requested)
	score  float64 // see score()
}

// findSeeds keeps the maxSeeds pairs with the most similar neighbourhoods.
// The template's neighbour index first votes for the (probe, template)
// minutia pairs that share at least one neighbour; only pairs with
// minSeedSim votes get the exact, one-to-one localSim.
func findSeeds(p, t *prepared, sc *scratch) []seed {
	m := len(t.m)
	if cap(sc.votes) < len(p.m)*m {
		sc.votes = make([]uint8, len(p.m)*m)
	}
	votes := sc.votes[:len(p.m)*m]
	clear(votes)
	x := t.index
	for i := range p.m {
		row := votes[i*m : i*m+m]
		for s := 0; s < int(p.nbN[i]); s++ {
			a := p.nb[i*nbK+s]
			db, pb, sb := idxBinsOf(a)
			key := idxKey(db, pb, sb)
			lo, hi := a.dWindow() // neighborMatch's, once per probe entry
			for _, e := range x.entries[x.start[key]:x.start[key+1]] {
				if row[e.j] == 255 {
					continue
				}
				b := &t.nb[int(e.j)*nbK+int(e.slot)]
				if b.d >= lo && b.d <= hi && diff256(a.phi, b.phi) <= tolPhi && diff256(a.psi, b.psi) <= tolPsi {
					row[e.j]++
				}
			}
		}
	}
	seeds := sc.seeds[:0]
	for i := range p.m {
		row := votes[i*m : i*m+m]
		for j, v := range row {
			if v < minSeedSim {
				continue
			}
			sim := localSim(p, i, t, j)
			if sim < minSeedSim {
				continue
			}
			if len(seeds) == maxSeeds && sim <= seeds[len(seeds)-1].sim {
				continue
			}
			if len(seeds) < maxSeeds {
				seeds = append(seeds, seed{})
			}
			k := len(seeds) - 1
			for k > 0 && seeds[k-1].sim < sim {
				seeds[k] = seeds[k-1]
				k--
			}
			seeds[k] = seed{i: i, j: j, sim: sim}
		}
	}
	sc.seeds = seeds
	return seeds
}

// pairUp transforms the probe by r and pairs its minutiae one-to-one with
// the template's, nearest first. With a seed (si ≥ 0) the distance
// tolerance grows with the distance from the seed, to absorb the skin's
// elastic distortion; without, it is the fixed refineDist.
func pairUp(p, t *prepared, r rigid, si int, sc *scratch, dst []pair) []pair {
	n := len(p.m)
	sc.tx, sc.ty, sc.ta = grow(sc.tx, n), grow(sc.ty, n), grow(sc.ta, n)
	for k, m := range p.m {
		sc.tx[k], sc.ty[k] = r.apply(m.X, m.Y)
		sc.ta[k] = NormAngle(m.Angle + r.theta)
	}
	var sx, sy float64
	if si >= 0 {
		sx, sy = sc.tx[si], sc.ty[si]
	}
	cand := sc.cand[:0]
	for k := 0; k < n; k++ {
		x, y, a := sc.tx[k], sc.ty[k], sc.ta[k]
		tol := refineDist
		if si >= 0 {
			dx, dy := x-sx, y-sy
			tol = min(pairDist+pairDistRel*math.Sqrt(dx*dx+dy*dy), pairDistMax)
		}
		tol2 := tol * tol
		g := t.grid
		r0, r1, c0, c1 := g.span(x, y, tol)
		for row := r0; row <= r1; row++ {
			for col := c0; col <= c1; col++ {
				cell := row*g.cols + col
				for _, l := range g.idx[g.start[cell]:g.start[cell+1]] {
					mt := &t.m[l]
					dx := mt.X - x
					if dx > tol || dx < -tol {
						continue
					}
					dy := mt.Y - y
					if dy > tol || dy < -tol {
						continue
					}
					d2 := dx*dx + dy*dy
					if d2 > tol2 || angleDiff(a, mt.Angle) > pairAngle {
						continue
					}
					cand = append(cand, pair{i: k, j: int(l), d2: d2})
				}
			}
		}
	}
	sc.cand = cand
	sortPairs(cand)
	sc.usedP, sc.usedT = growBool(sc.usedP, n), growBool(sc.usedT, len(t.m))
	pairs := dst[:0]
	for _, c := range cand {
		if sc.usedP[c.i] || sc.usedT[c.j] {
			continue
		}
		sc.usedP[c.i], sc.usedT[c.j] = true, true
		pairs = append(pairs, c)
	}
	return pairs
}

// pairLess orders candidate pairs nearest first, then by probe and
// template index: a total order, since (i, j) is unique, so any correct
// sort gives the same sequence.
func pairLess(a, b pair) bool {
	if a.d2 != b.d2 {
		return a.d2 < b.d2
	}
	if a.i != b.i {
		return a.i < b.i
	}
	return a.j < b.j
}

// sortPairs sorts by pairLess: a quicksort (median of three) over
// insertion-sorted runs of at most 12, with the comparison inlined; it was
// slices.SortFunc with a comparison closure, ~12 % of a comparison's time.
func sortPairs(c []pair) {
	for len(c) > 12 {
		m := len(c) / 2
		if pairLess(c[m], c[0]) {
			c[m], c[0] = c[0], c[m]
		}
		if pairLess(c[len(c)-1], c[0]) {
			c[len(c)-1], c[0] = c[0], c[len(c)-1]
		}
		if pairLess(c[len(c)-1], c[m]) {
			c[len(c)-1], c[m] = c[m], c[len(c)-1]
		}
		p := c[m]
		i, j := 0, len(c)-1
		for i <= j {
			for pairLess(c[i], p) {
				i++
			}
			for pairLess(p, c[j]) {
				j--
			}
			if i <= j {
				c[i], c[j] = c[j], c[i]
				i++
				j--
			}
		}
		// recurse into the smaller part, loop on the larger
		if j+1 < len(c)-i {
			sortPairs(c[:j+1])
			c = c[i:]
		} else {
			sortPairs(c[i:])
			c = c[:j+1]
		}
	}
	for k := 1; k < len(c); k++ {
		for l := k; l > 0 && pairLess(c[l], c[l-1]); l-- {
			c[l], c[l-1] = c[l-1], c[l]
		}
	}
}

// fitRigid is the least-squares rotation and translation taking the paired
// probe minutiae onto their template partners (2-D Procrustes).
func fitRigid(p, t *prepared, pairs []pair) rigid {
	var px, py, qx, qy float64
	for _, c := range pairs {
		px += p.m[c.i].X
		py += p.m[c.i].Y
		qx += t.m[c.j].X
		qy += t.m[c.j].Y
	}
	n := float64(len(pairs))
	px, py, qx, qy = px/n, py/n, qx/n, qy/n
	var sxx, sxy float64
	for _, c := range pairs {
		ax, ay := p.m[c.i].X-px, p.m[c.i].Y-py
		bx, by := t.m[c.j].X-qx, t.m[c.j].Y-qy
		sxx += ax*bx + ay*by
		sxy += ax*by - ay*bx
	}
	th := math.Atan2(sxy, sxx)
	s, cs := math.Sincos(th)
	return rigid{
		cos: cs, sin: s, theta: NormAngle(th),
		tx: qx - (cs*px - s*py),
		ty: qy - (s*px + cs*py),
	}
}

// align finds the best alignment of probe p onto template t, as judged by
// eval, which returns the overlap counts and the score of an alignment
// (a function of values, not of *result, so that cur stays on the stack).
func align(p, t *prepared, sc *scratch, eval func(r rigid, weight float64, pairs int) (inP, inT int, score float64), keepPairs bool) (best result, ok bool) {
	for _, s := range findSeeds(p, t, sc) {
		r := seedTransform(p, s.i, t, s.j)
		sc.pairs = pairUp(p, t, r, s.i, sc, sc.pairs)
		for round := 0; round < refineRounds && len(sc.pairs) >= 3; round++ {
			r2 := fitRigid(p, t, sc.pairs)
			sc.alt = pairUp(p, t, r2, -1, sc, sc.alt)
			if len(sc.alt) < len(sc.pairs) {
				break
			}
			r = r2
			sc.pairs, sc.alt = sc.alt, sc.pairs
		}
		cur := result{pairs: len(sc.pairs), align: r}
		for _, c := range sc.pairs {
			same := p.m[c.i].Kind == t.m[c.j].Kind
			if same {
				cur.kinds++
			}
			cur.weight += pairWeight(c.d2, angleDiff(NormAngle(p.m[c.i].Angle+r.theta), t.m[c.j].Angle), same)
		}
		if ok && scoreBound(cur.weight, cur.pairs) <= best.score {
			continue // cannot beat the best whatever the overlap
		}
		cur.inP, cur.inT, cur.score = eval(cur.align, cur.weight, cur.pairs)
		if ok && cur.score <= best.score {
			continue
		}
		sc.best = append(sc.best[:0], sc.pairs...)
		best, ok = cur, true
	}
	if ok && keepPairs {
		best.paired = append([]pair(nil), sc.best...)
	}
	return best, ok
}

// pairWeight is how much a pair counts: 1 for a perfect pair, falling with
// the distance, the direction difference and a kind mismatch. Chance pairs
// of different fingers spread evenly over the tolerances and weigh about a
// third; pairs of one finger sit near the centre and weigh nearly 1.
func pairWeight(d2, da float64, sameKind bool) float64 {
	w := (1 - d2/(weightDist*weightDist)) * (1 - (da*da)/(pairAngle*pairAngle))
	if !sameKind {
		w *= kindMismatch
	}
	return max(w, 0)
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func growBool(s []bool, n int) []bool {
	if cap(s) < n {
		s = make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}
