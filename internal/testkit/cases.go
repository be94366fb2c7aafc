package testkit

import (
	"context"
	"testing"
	"time"
)

// Case is one case of a conformance suite (a ported VTS test): its name
// and its body, which runs on the fixture V of one case.
type Case[V any] struct {
	Name string
	Run  func(v V)
}

// RunCases runs each case as a subtest of t, in order. A case gets a
// context that ends after timeout (fallback when timeout <= 0), and
// start builds its fixture on that context — the suite's SetUp — and
// returns it with its TearDown, which runs when the case ends, failed or
// not.
func RunCases[V any](t *testing.T, cases []Case[V], timeout, fallback time.Duration,
	start func(t *testing.T, ctx context.Context) (v V, tearDown func())) {
	t.Helper()
	if timeout <= 0 {
		timeout = fallback
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			v, tearDown := start(t, ctx)
			defer tearDown()
			c.Run(v)
		})
	}
}
