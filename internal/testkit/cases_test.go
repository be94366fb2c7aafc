package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunCases: every case runs in order on a fixture of its own, between
// its set-up and its tear-down, under a context bounded by the timeout
// (the fallback when none is given).
func TestRunCases(t *testing.T) {
	for _, tt := range []struct {
		name              string
		timeout, fallback time.Duration
		want              time.Duration
	}{
		{"timeout", time.Hour, time.Minute, time.Hour},
		{"fallback", 0, time.Minute, time.Minute},
		{"negative is fallback", -time.Second, time.Minute, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			type fixture struct {
				name string
				ctx  context.Context
			}
			cases := []Case[*fixture]{
				{"A", func(f *fixture) { log = append(log, "run "+f.name) }},
				{"B", func(f *fixture) {
					log = append(log, "run "+f.name)
					deadline, ok := f.ctx.Deadline()
					require.True(t, ok)
					left := time.Until(deadline)
					assert.LessOrEqual(t, left, tt.want)
					assert.Greater(t, left, tt.want-time.Minute/2)
				}},
			}
			RunCases(t, cases, tt.timeout, tt.fallback, func(t *testing.T, ctx context.Context) (*fixture, func()) {
				f := &fixture{name: t.Name(), ctx: ctx}
				log = append(log, "setUp "+f.name)
				return f, func() { log = append(log, "tearDown "+f.name) }
			})
			p := t.Name() + "/"
			assert.Equal(t, []string{
				"setUp " + p + "A", "run " + p + "A", "tearDown " + p + "A",
				"setUp " + p + "B", "run " + p + "B", "tearDown " + p + "B",
			}, log)
		})
	}
}
