package matcher

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every minutia within tol of a point lies in the cells span returns,
// whatever the template's extent.
func TestGridSpanCoversTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, extent := range []float64{100, 400, 16000} {
		ms := make([]Minutia, 200)
		for i := range ms {
			ms[i] = Minutia{X: (r.Float64() - 0.5) * extent, Y: (r.Float64() - 0.5) * extent, Kind: RidgeEnding}
		}
		g := newGrid(ms)
		assert.LessOrEqual(t, g.cols, gridMaxCells, "extent %g", extent)
		assert.LessOrEqual(t, g.rows, gridMaxCells, "extent %g", extent)
		for q := 0; q < 2000; q++ {
			x, y := (r.Float64()-0.5)*extent*1.2, (r.Float64()-0.5)*extent*1.2
			tol := pairDistMax * r.Float64()
			in := map[int32]bool{}
			r0, r1, c0, c1 := g.span(x, y, tol)
			for row := r0; row <= r1; row++ {
				for col := c0; col <= c1; col++ {
					cell := row*g.cols + col
					for _, j := range g.idx[g.start[cell]:g.start[cell+1]] {
						in[j] = true
					}
				}
			}
			for j, m := range ms {
				if math.Abs(m.X-x) <= tol && math.Abs(m.Y-y) <= tol {
					require.True(t, in[int32(j)], "extent %g: minutia %d near (%g,%g) missed", extent, j, x, y)
				}
			}
		}
	}
	r0, r1, _, _ := newGrid(nil).span(0, 0, 10)
	assert.Greater(t, r0, r1, "an empty grid has no cells")
}
