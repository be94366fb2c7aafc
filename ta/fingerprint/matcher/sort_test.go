package matcher

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSortPairs: sortPairs orders exactly as slices.SortFunc by (d2, i, j)
// (what pairUp used before), over lengths around the insertion-sort cut
// and with repeated distances.
func TestSortPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		for range 5 {
			c := make([]pair, n)
			for k := range c {
				c[k] = pair{i: r.IntN(40), j: r.IntN(40), d2: float64(r.IntN(8))}
			}
			want := slices.Clone(c)
			slices.SortFunc(want, func(a, b pair) int {
				return cmp.Or(cmp.Compare(a.d2, b.d2), cmp.Compare(a.i, b.i), cmp.Compare(a.j, b.j))
			})
			sortPairs(c)
			require.Equal(t, want, c, "n=%d", n)
		}
	}
}
