package matcher

import "math"

// gridCell is the side of a template grid cell, in pixels, unless the
// template spans more than gridMaxCells cells, when cells grow so that the
// grid stays small whatever the coordinates.
const (
	gridCell     = 24.0
	gridMaxCells = 64
)

// grid buckets template minutiae by position (compressed rows), so pairing
// looks at a few neighbours instead of the whole template.
type grid struct {
	x0, y0     float64
	inv        float64 // 1 / cell side
	cols, rows int
	start      []int32 // cell c holds idx[start[c]:start[c+1]]
	idx        []int32
}

func newGrid(ms []Minutia) *grid {
	g := &grid{}
	if len(ms) == 0 {
		return g
	}
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, m := range ms {
		x0, y0, x1, y1 = min(x0, m.X), min(y0, m.Y), max(x1, m.X), max(y1, m.Y)
	}
	g.x0, g.y0 = x0, y0
	side := max(gridCell, (x1-x0)/(gridMaxCells-1), (y1-y0)/(gridMaxCells-1))
	g.inv = 1 / side
	g.cols = int((x1-x0)*g.inv) + 1
	g.rows = int((y1-y0)*g.inv) + 1
	g.start = make([]int32, g.cols*g.rows+1)
	for _, m := range ms {
		g.start[g.cell(m.X, m.Y)+1]++
	}
	for c := 1; c < len(g.start); c++ {
		g.start[c] += g.start[c-1]
	}
	fill := append([]int32(nil), g.start[:len(g.start)-1]...)
	g.idx = make([]int32, len(ms))
	for i, m := range ms {
		c := g.cell(m.X, m.Y)
		g.idx[fill[c]] = int32(i)
		fill[c]++
	}
	return g
}

func (g *grid) cell(x, y float64) int {
	return min(int((y-g.y0)*g.inv), g.rows-1)*g.cols + min(int((x-g.x0)*g.inv), g.cols-1)
}

// span returns the block of cells (rows r0..r1, columns c0..c1, inclusive)
// that the square of half-side tol around (x, y) touches; it is empty
// (r0 > r1 or c0 > c1) when the square misses the grid.
func (g *grid) span(x, y, tol float64) (r0, r1, c0, c1 int) {
	inv := g.inv
	fx0, fx1 := (x-tol-g.x0)*inv, (x+tol-g.x0)*inv
	fy0, fy1 := (y-tol-g.y0)*inv, (y+tol-g.y0)*inv
	if !(fx1 >= 0 && fy1 >= 0 && fx0 < float64(g.cols) && fy0 < float64(g.rows)) { // also NaN
		return 1, 0, 1, 0
	}
	return max(int(fy0), 0), min(int(fy1), g.rows-1), max(int(fx0), 0), min(int(fx1), g.cols-1)
}
