package eval

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

// Progress hears each stage start at 0 and count every finger, from
// several workers, and does not change the results.
func TestEvaluateProgress(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]int{}
	totals := map[string]int{}
	var order []string
	cfg := EvalConfig{Fingers: 12, Seed: 7, EnrollSamples: 4, GenuineProbes: 2, Workers: 3,
		Progress: func(p EvalProgress) {
			mu.Lock()
			defer mu.Unlock()
			if p.Done == 0 {
				order = append(order, p.Stage)
			}
			seen[p.Stage] = append(seen[p.Stage], p.Done)
			totals[p.Stage] = p.Total
		}}
	res, err := Evaluate(context.Background(), matcher.NewMinutiae(0), cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{StageEnroll, StageCompare}, order)
	assert.Equal(t, 12, totals[StageEnroll])
	assert.Equal(t, 12-res.EnrollFailures, totals[StageCompare])
	for stage, dones := range seen {
		assert.ElementsMatch(t, seq(totals[stage]+1), dones, stage)
	}

	cfg.Progress = nil
	again, err := Evaluate(context.Background(), matcher.NewMinutiae(0), cfg)
	require.NoError(t, err)
	assert.Equal(t, again, res)
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
