package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Progress on long work (eval matcher, conform's LockoutExpiryTest wait,
// attack) goes to stderr only, never stdout, which JSON consumers read:
// a bar when stderr is a terminal, otherwise a line every
// progressLineInterval, as CI logs and `2>file` want it. It is off with
// --progress=false, and by default under --json.

// progressLineInterval is how often a line is written when stderr is not
// a terminal; tests shorten it.
var progressLineInterval = time.Second

// progressBarRefresh is how often the bar is redrawn on a terminal.
const progressBarRefresh = 100 * time.Millisecond

// addProgressFlag adds --progress to c; progressEnabled reads it.
func addProgressFlag(c *cobra.Command) {
	c.Flags().Bool("progress", true, "report progress on stderr: a bar on a terminal, else a line a second (default off with --json)")
}

// progressEnabled is --progress as given, else true unless asJSON.
func progressEnabled(cmd *cobra.Command, asJSON bool) bool {
	f := cmd.Flags().Lookup("progress")
	if f == nil {
		return false
	}
	if f.Changed {
		on, err := cmd.Flags().GetBool("progress")
		return err == nil && on
	}
	return !asJSON
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports one piece of long work. The zero of a nil *progress
// is valid and reports nothing, so callers need no checks. Its methods
// may be called from any goroutine.
type progress struct {
	w      io.Writer
	prefix string // "fpemu eval matcher"
	bar    *progressbar.ProgressBar

	mu       sync.Mutex
	active   bool   // a stage has been set
	stage    string // what is being done: "enrolling" (may be empty)
	unit     string // what is counted: "fingers", "attacks", "s"
	detail   string // what is being done now: "running hat-replay"
	done     int64
	total    int64
	start    time.Time // of the stage
	deadline time.Time // timed stages: done is the seconds since start
	printed  bool      // a line has been written (line mode)

	stop chan struct{}
	wg   sync.WaitGroup
}

// newProgress starts reporting on w, or returns nil when !enabled. The
// first stage is set with Stage or Timed.
func newProgress(w io.Writer, enabled bool, prefix string) *progress {
	if !enabled {
		return nil
	}
	p := &progress{w: w, prefix: prefix, stop: make(chan struct{}), start: time.Now()}
	interval := progressLineInterval
	if isTerminal(w) {
		interval = progressBarRefresh
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(prefix),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(progressBarRefresh),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionUseANSICodes(true),
			// No spinner goroutine of the library's own: it renders under
			// the bar's lock while Clear does not take it (a data race in
			// progressbar v3.19.1); our ticker renders instead.
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
	}
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.tick()
			}
		}
	})
	return p
}

// Stage starts counting total units of a new stage from 0.
func (p *progress) Stage(stage string, total int, unit string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active, p.stage, p.unit, p.done, p.total = true, stage, unit, 0, int64(total)
	p.start, p.deadline, p.detail = time.Now(), time.Time{}, ""
	p.resetBar()
}

// Timed starts a stage that lasts until deadline: its count is the
// seconds waited.
func (p *progress) Timed(stage string, deadline time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.active, p.stage, p.unit, p.done, p.detail = true, stage, "s", 0, ""
	p.total = int64(max(deadline.Sub(now).Round(time.Second), time.Second) / time.Second)
	p.start, p.deadline = now, deadline
	p.resetBar()
}

// resetBar points the bar at the current stage; p.mu is held.
func (p *progress) resetBar() {
	if p.bar == nil {
		return
	}
	p.bar.Reset()
	p.bar.ChangeMax64(p.total)
	p.describeBar()
}

// describeBar sets the bar's text; p.mu is held.
func (p *progress) describeBar() {
	d := p.prefix + ":"
	for _, s := range []string{p.stage, p.detail} {
		if s != "" {
			d += " " + s
		}
	}
	p.bar.Describe(d)
}

// Detail says what is being done now; it ends each line.
func (p *progress) Detail(detail string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detail = detail
	if p.bar != nil {
		p.describeBar()
	}
}

// Set records that done units of the stage are done. Counts reported
// out of order by concurrent workers never move it back.
func (p *progress) Set(done int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done = max(p.done, int64(done))
	p.mu.Unlock()
}

// Above runs f, which writes to stderr or the terminal, never at the same
// time as a progress line or bar is written; on a terminal the bar is
// cleared before f and redrawn after it.
func (p *progress) Above(f func()) {
	if p == nil {
		f()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		f()
		return
	}
	_ = p.bar.Clear()
	f()
	_ = p.bar.RenderBlank()
	_ = p.bar.Set64(p.done)
}

// updateTimed sets the count of a timed stage: the whole seconds waited,
// all of them once the deadline has passed; p.mu is held.
func (p *progress) updateTimed() {
	switch {
	case p.deadline.IsZero():
	case !time.Now().Before(p.deadline):
		p.done = p.total
	default:
		p.done = min(int64(time.Since(p.start)/time.Second), p.total)
	}
}

// tick redraws the bar or writes a line.
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	p.updateTimed()
	if p.bar != nil {
		_ = p.bar.Set64(p.done)
		return
	}
	p.printed = true
	fmt.Fprintln(p.w, p.line())
}

// line is one progress line: "fpemu eval matcher: enrolling 120/500
// fingers (24%), 3s elapsed, about 9s left", "fpemu attack: 3/29 attacks
// (10%), 45s elapsed, about 6m45s left; running hat-replay".
func (p *progress) line() string {
	elapsed := time.Since(p.start)
	s := p.prefix + ": "
	if p.stage != "" {
		s += p.stage + " "
	}
	s += fmt.Sprintf("%d/%d %s", p.done, p.total, p.unit)
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", 100*p.done/p.total)
	}
	s += fmt.Sprintf(", %s elapsed", elapsed.Round(time.Second))
	switch {
	case !p.deadline.IsZero():
		s += fmt.Sprintf(", %s left", max(time.Until(p.deadline), 0).Round(time.Second))
	case p.done > 0 && p.done < p.total:
		left := time.Duration(float64(elapsed) * float64(p.total-p.done) / float64(p.done))
		s += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	if p.detail != "" {
		s += "; " + p.detail
	}
	return s
}

// Finish stops reporting: the bar is cleared; in line mode a last line
// is written if any was, ending "done" or, short of the total (an error,
// Ctrl-C), "stopped", so a log shows how the stage ended. Safe to call
// more than once.
func (p *progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	select {
	case <-p.stop:
		p.mu.Unlock()
		return
	default:
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
		return
	}
	if p.printed && p.active {
		p.updateTimed()
		end := ", done"
		if p.done < p.total {
			end = ", stopped" // failed or interrupted
		}
		fmt.Fprintln(p.w, p.line()+end)
	}
}
