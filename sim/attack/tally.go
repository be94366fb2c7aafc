package attack

import (
	"errors"
	"fmt"
	"strings"
)

// tally collects what one attack observed: probes the defence stopped,
// probes that got through, and anything that prevents a judgement.
type tally struct {
	want     Verdict
	held     []string
	breached []string
	broken   []string
	summary  string
	logs     []string // the devices' last log lines, kept when it could not be judged
}

// heldf records a probe the defence stopped (or, for survival attacks,
// an invariant that held).
func (t *tally) heldf(format string, args ...any) {
	t.held = append(t.held, fmt.Sprintf(format, args...))
}

// breachf records a probe that got through: the defence did not hold.
func (t *tally) breachf(format string, args ...any) {
	t.breached = append(t.breached, fmt.Sprintf(format, args...))
}

// brokef records why the attack could not be judged.
func (t *tally) brokef(format string, args ...any) {
	t.broken = append(t.broken, fmt.Sprintf(format, args...))
}

// summarize sets the Observed text of a defence that held.
func (t *tally) summarize(format string, args ...any) { t.summary = fmt.Sprintf(format, args...) }

// must records a failed setup or control step and reports whether it
// succeeded; the attack stops when it returns false.
func (t *tally) must(what string, err error) bool {
	if err != nil {
		t.brokef("%s: %s", what, describe(err))
		return false
	}
	return true
}

// refused judges one attack probe that must fail with one of want: nil
// is a breach, a matching error a defence, any other error a failure to
// judge (the TA may have died, or answered outside its protocol). It
// returns the error's name for summaries.
func (t *tally) refused(what string, err error, want ...error) string {
	name := describe(err)
	switch {
	case err == nil:
		t.breachf("%s: accepted", what)
	case matchesAny(err, want):
		t.heldf("%s → %s", what, name)
	default:
		t.brokef("%s: unexpected answer %s (want %s)", what, name, describeAll(want))
	}
	return name
}

func (t *tally) verdict() Verdict {
	switch {
	case len(t.breached) > 0 && t.want == Survived:
		return NotSurvived
	case len(t.breached) > 0:
		return NotRejected
	case len(t.broken) > 0, len(t.held) == 0:
		return Inconclusive
	}
	return t.want
}

func (t *tally) observed() string {
	switch {
	case len(t.breached) > 0:
		return plural(len(t.breached), "input") + " got through: " + t.breached[0]
	case len(t.broken) > 0:
		return "could not judge: " + t.broken[0]
	case len(t.held) == 0:
		return "nothing observed"
	case t.summary != "":
		return t.summary
	}
	return strings.Join(t.held, "; ")
}

func (t *tally) findings() []string {
	if len(t.breached) == 0 && len(t.broken) == 0 && len(t.held) > 0 {
		return nil
	}
	f := append(append([]string(nil), t.breached...), t.broken...)
	for _, l := range t.logs {
		f = append(f, "log: "+l)
	}
	return f
}

func matchesAny(err error, targets []error) bool {
	for _, w := range targets {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
