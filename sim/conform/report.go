package conform

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the outcome of one case.
type Status string

// Case outcomes. A case that could not run because the device under test
// lacks an endpoint it needs (Gatekeeper, sensor control) is Skipped with
// the reason, never Passed.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is the outcome of one case.
type Result struct {
	// Suite is SuiteVTS or SuiteFpemu.
	Suite Suite `json:"suite"`
	// Name is the case name (VTS's test name for SuiteVTS).
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Duration time.Duration `json:"-"`
	// Reason says why the case failed (every failed check, in order) or
	// was skipped; for a pass it is empty, or notes how the case was
	// adapted (T.Notef).
	Reason string `json:"reason,omitempty"`
}

// FullName is "suite/name", the name --run and --skip also match.
func (r Result) FullName() string { return string(r.Suite) + "/" + r.Name }

// MarshalJSON adds duration_ms.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMs float64 `json:"duration_ms"`
	}{plain(r), ms(r.Duration)})
}

// Report is the outcome of a run, in case order.
type Report struct {
	// Target is what was tested; SelfBooted says conform booted it.
	Target     Target        `json:"target"`
	SelfBooted bool          `json:"self_booted"`
	Start      time.Time     `json:"start"`
	Duration   time.Duration `json:"-"`
	Results    []Result      `json:"cases"`
}

// Counts returns the number of passed, failed and skipped cases.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, c := range r.Results {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return pass, fail, skip
}

// OK reports whether no case failed (the exit status of `fpemu conform`).
func (r *Report) OK() bool {
	_, fail, _ := r.Counts()
	return fail == 0
}

// Names returns the full names of the cases with status s, in order.
func (r *Report) Names(s Status) []string {
	var out []string
	for _, c := range r.Results {
		if c.Status == s {
			out = append(out, c.FullName())
		}
	}
	return out
}

// MarshalJSON adds the totals and duration_ms.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	pass, fail, skip := r.Counts()
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	p := plain(*r)
	p.Results = results
	return json.Marshal(struct {
		plain
		DurationMs float64 `json:"duration_ms"`
		Passed     int     `json:"passed"`
		Failed     int     `json:"failed"`
		Skipped    int     `json:"skipped"`
	}{p, ms(r.Duration), pass, fail, skip})
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes the human summary: one line per case (status, full
// name, duration, reason) and a totals line.
func (r *Report) WriteText(w io.Writer) error {
	width := 0
	for _, c := range r.Results {
		width = max(width, len(c.FullName()))
	}
	for _, c := range r.Results {
		if _, err := io.WriteString(w, FormatLine(c, width)+"\n"); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, r.Summary()+"\n")
	return err
}

// Summary is the totals line.
func (r *Report) Summary() string {
	pass, fail, skip := r.Counts()
	verdict := "ok"
	if fail > 0 {
		verdict = "FAILED"
	}
	return fmt.Sprintf("%s: %d passed, %d failed, %d skipped (%d cases) in %s",
		verdict, pass, fail, skip, len(r.Results), r.Duration.Round(time.Millisecond))
}

// FormatLine is the summary line of one case, its name padded to width.
// A multi-line reason is folded onto the line with "; ".
func FormatLine(c Result, width int) string {
	line := fmt.Sprintf("%-4s  %-*s  %8.3fs", c.Status, width, c.FullName(), c.Duration.Seconds())
	if c.Reason != "" {
		line += "  " + strings.Join(strings.Fields(strings.ReplaceAll(c.Reason, "\n", "; ")), " ")
	}
	return line
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
