package conform

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A WaitObserver on the run's context hears a wait start and end exactly
// once, however often the case ends it; without one, waits are silent.
func TestWaitObserver(t *testing.T) {
	until := time.Now().Add(31 * time.Second)
	var started, ended int
	var gotWhat string
	var gotUntil time.Time
	ctx := WithWaitObserver(context.Background(), func(what string, u time.Time) func() {
		started++
		gotWhat, gotUntil = what, u
		return func() { ended++ }
	})
	tt := &T{ctx: ctx}
	end := tt.waitStarts("waiting out the lockout", until)
	assert.Equal(t, 1, started)
	assert.Zero(t, ended)
	assert.Equal(t, "waiting out the lockout", gotWhat)
	assert.Equal(t, until, gotUntil)
	end()
	end() // the deferred call after the explicit one
	assert.Equal(t, 1, ended)

	// an observer that returns no end function, and none at all
	tt = &T{ctx: WithWaitObserver(context.Background(), func(string, time.Time) func() { return nil })}
	assert.NotPanics(t, tt.waitStarts("x", until))
	tt = &T{ctx: context.Background()}
	assert.NotPanics(t, tt.waitStarts("x", until))
}
