package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

func TestProgressLines(t *testing.T) {
	fastProgress(t)
	var w testkit.Buffer
	p := newProgress(&w, true, "fpemu test")
	p.Stage("counting", 10, "rows")
	for i := 1; i <= 10; i++ {
		p.Set(i)
		if i == 5 {
			p.Set(3) // a late report from a slow worker does not move it back
		}
		time.Sleep(3 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	p.Finish()
	p.Finish() // idempotent
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 2, w.String())
	line := regexp.MustCompile(`^fpemu test: counting (\d+)/10 rows \((\d+)%\), \d+s elapsed(, about \d+s left)?(, done)?$`)
	prev := -1
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, l)
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, prev, "never backwards: %q", l)
		prev = n
	}
	assert.Regexp(t, `: counting 10/10 rows \(100%\), \d+s elapsed, done$`, lines[len(lines)-1])
}

func TestProgressTimed(t *testing.T) {
	fastProgress(t)
	var w testkit.Buffer
	p := newProgress(&w, true, "fpemu conform")
	p.Timed("waiting out the 30 s lockout", time.Now().Add(31*time.Second))
	time.Sleep(30 * time.Millisecond)
	p.Finish()
	assert.Regexp(t, `(?m)^fpemu conform: waiting out the 30 s lockout 0/31 s \(0%\), \d+s elapsed, 31s left$`, w.String())
}

// A stage that ends short of its total says so.
func TestProgressStopped(t *testing.T) {
	fastProgress(t)
	var w testkit.Buffer
	p := newProgress(&w, true, "fpemu attack")
	p.Stage("", 29, "attacks")
	p.Set(2)
	p.Detail("running hat-replay")
	time.Sleep(20 * time.Millisecond)
	p.Finish()
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	assert.Regexp(t, `^fpemu attack: 2/29 attacks \(6%\), \d+s elapsed, about \d+s left; running hat-replay$`, lines[0])
	assert.Regexp(t, `, stopped$`, lines[len(lines)-1])
}

// A disabled progress is nil and every method is a no-op.
func TestProgressDisabled(t *testing.T) {
	var w testkit.Buffer
	p := newProgress(&w, false, "x")
	assert.Nil(t, p)
	p.Stage("s", 1, "u")
	p.Timed("s", time.Now())
	p.Set(1)
	ran := false
	p.Above(func() { ran = true })
	assert.True(t, ran)
	p.Finish()
	assert.Empty(t, w.String())
}
