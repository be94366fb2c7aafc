package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/sim/finger/eval"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

func newEvalCmd() *cobra.Command {
	return newGroup("eval",
		"Measure fpemu components on synthetic data",
		`Measure fpemu components on synthetic data. Results are deterministic in
the seed and independent of the number of CPUs.`,
		newEvalMatcherCmd())
}

// Goals checked by "fpemu eval matcher --check".
const (
	goalMaxFAR       = eval.CDDMaxFAR // Android CDD §7.3.10 (FAR ≤ 0.002 %)
	goalMaxFRR       = eval.GoalMaxFRR
	goalMinImpostors = 200000
)

// errGoalMissed is returned (exit 1) by --check when a goal is missed.
var errGoalMissed = errors.New("matcher goal missed")

// evalMatcherJSON is the object printed by "fpemu eval matcher --json".
type evalMatcherJSON struct {
	*eval.EvalResult
	DET string `json:"det_png,omitempty"`
	// DETFile is the DET image whatever its format; det_png is kept for
	// consumers of earlier versions and set for a PNG only.
	DETFile string `json:"det,omitempty"`
}

func newEvalMatcherCmd() *cobra.Command {
	var (
		fingers, enroll, probes, workers int
		seed                             uint64
		threshold                        float64
		asJSON, check                    bool
		out, format                      string
	)
	c := &cobra.Command{
		Use:   "matcher [--fingers N] [--seed S] [--json] [--out det.png|det.svg] [--format png|svg] [--threshold T]",
		Short: "FAR, FRR and DET curve of the reference matcher on a synthetic population",
		Long: `Build a population of synthetic fingers (package sim/finger), enroll each from
several impressions, then compare fresh impressions of every finger with its
own template (genuine) and every finger's first probe with every other
finger's template (impostor: enrolled × (N−1) comparisons). Report FAR and FRR
at the threshold, the comparison counts, the equal error rate and a 95 %
upper confidence bound of FAR, and draw the DET curve (FAR against FRR, log
axes, with the CDD bounds, fpemu's FRR goal and the operating point) as a
PNG or SVG: --format, or else the extension of --out.

Progress goes to stderr (a bar on a terminal, else a line a second), never
to stdout; it is off with --progress=false and by default with --json.

Goal (Android CDD §7.3.10, strong biometric): FAR ≤ 1/50,000 over at least
200,000 impostor comparisons with FRR ≤ 5 %. With --check the command exits 1
when a goal is missed. The default population (500 fingers) makes 249,500
impostor comparisons if every finger enrolls.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case fingers < 2:
				return usageErrorf("--fingers %d: need at least 2", fingers)
			case enroll < 1 || enroll > matcher.MaxTemplateWindows:
				return usageErrorf("--enroll-samples %d: want 1..%d", enroll, matcher.MaxTemplateWindows)
			case probes < 1:
				return usageErrorf("--probes %d: need at least 1", probes)
			case threshold < 0 || math.IsNaN(threshold) || math.IsInf(threshold, 0):
				return usageErrorf("--threshold %g: want a finite score ≥ 0 (0: the matcher's default)", threshold)
			case workers < 0:
				return usageErrorf("--workers %d: want ≥ 0 (0: one per CPU)", workers)
			}
			detFormat, err := detFormatOf(out, format)
			if err != nil {
				return err
			}
			start := time.Now()
			prog := newProgress(cmd.ErrOrStderr(), progressEnabled(cmd, asJSON), "fpemu eval matcher")
			res, err := eval.Evaluate(cmd.Context(), matcher.NewMinutiae(0), eval.EvalConfig{
				Fingers: fingers, Seed: seed, EnrollSamples: enroll, GenuineProbes: probes,
				Threshold: threshold, Workers: workers,
				Progress: evalProgress(prog),
			})
			prog.Finish()
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeDETFile(out, detFormat, res); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				j := evalMatcherJSON{EvalResult: res, DETFile: out}
				if detFormat == eval.DETPNG {
					j.DET = out
				}
				if err := json.NewEncoder(w).Encode(j); err != nil {
					return err
				}
			} else {
				printEvalMatcher(w, res, out, time.Since(start))
			}
			if check {
				return checkGoals(res)
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&fingers, "fingers", eval.DefaultFingers, "population size")
	f.Uint64Var(&seed, "seed", 1, "population seed")
	f.IntVar(&enroll, "enroll-samples", eval.DefaultEnrollSamples, "impressions merged into each template")
	f.IntVar(&probes, "probes", eval.DefaultGenuineProbes, "genuine probes per finger")
	f.Float64Var(&threshold, "threshold", 0, "decision threshold (0: the matcher's default)")
	f.IntVar(&workers, "workers", 0, "goroutines (0: one per CPU); results do not depend on it")
	f.BoolVar(&asJSON, "json", false, "print one JSON object instead of the summary")
	f.StringVar(&out, "out", "det.png", `DET curve image to write, .png or .svg ("" for none)`)
	f.StringVar(&format, "format", "", "DET image format, png or svg (default: from the extension of --out)")
	addProgressFlag(c)
	f.BoolVar(&check, "check", false, "exit 1 unless FAR ≤ 1/50000 over ≥ 200000 impostor comparisons and FRR ≤ 5%")
	return c
}

func printEvalMatcher(w io.Writer, r *eval.EvalResult, det string, elapsed time.Duration) {
	fte := 0.0
	if r.Fingers > 0 {
		fte = float64(r.EnrollFailures) / float64(r.Fingers)
	}
	fmt.Fprintf(w, "matcher             %s\n", r.Matcher)
	fmt.Fprintf(w, "population          %d fingers, seed %d, %d enrollment impressions and %d genuine probes each, sensor %dx%d px\n",
		r.Fingers, r.Seed, r.EnrollSamples, r.GenuineProbes, r.Sensor.Width, r.Sensor.Height)
	fmt.Fprintf(w, "failures to enroll  %d (%.2f%%)\n", r.EnrollFailures, 100*fte)
	fmt.Fprintf(w, "comparisons         %d impostor, %d genuine\n", r.ImpostorComparisons, r.GenuineComparisons)
	fmt.Fprintf(w, "threshold           %g\n", r.Threshold)
	fmt.Fprintf(w, "FAR                 %d/%d = %.3g (95%% upper bound %.3g; goal <= %.3g)\n",
		r.FalseAccepts, r.ImpostorComparisons, r.FAR, r.FARUpper95, goalMaxFAR)
	fmt.Fprintf(w, "FRR                 %d/%d = %.2f%% (goal <= %.0f%%)\n",
		r.FalseRejects, r.GenuineComparisons, 100*r.FRR, 100*goalMaxFRR)
	fmt.Fprintf(w, "EER                 %.3f%%\n", 100*r.EER)
	fmt.Fprintf(w, "max impostor score  %.2f\n", r.MaxImpostorScore)
	if det != "" {
		fmt.Fprintf(w, "DET curve           %s\n", det)
	}
	fmt.Fprintf(w, "elapsed             %.1fs\n", elapsed.Seconds())
}

func checkGoals(r *eval.EvalResult) error {
	switch {
	case r.ImpostorComparisons < goalMinImpostors:
		return fmt.Errorf("%w: %d impostor comparisons, need at least %d", errGoalMissed, r.ImpostorComparisons, goalMinImpostors)
	case r.FAR > goalMaxFAR:
		return fmt.Errorf("%w: FAR %.3g above %.3g", errGoalMissed, r.FAR, goalMaxFAR)
	case r.FRR > goalMaxFRR:
		return fmt.Errorf("%w: FRR %.2f%% above %.0f%%", errGoalMissed, 100*r.FRR, 100*goalMaxFRR)
	}
	return nil
}

// detFormatOf is the DET image format: --format if given (it must agree
// with a .png or .svg extension of --out), else the extension of --out.
// Anything else is a usage error.
func detFormatOf(out, format string) (eval.DETFormat, error) {
	ext := filepath.Ext(out)
	if format != "" {
		f, err := eval.ParseDETFormat(format)
		if err != nil {
			return "", usageErrorf("--format: %v", err)
		}
		if e, err := eval.ParseDETFormat(ext); err == nil && e != f {
			return "", usageErrorf("--out %q is not %s (--format %s)", out, f, format)
		}
		return f, nil
	}
	if out == "" {
		return eval.DETPNG, nil // nothing is written
	}
	f, err := eval.ParseDETFormat(ext)
	if err != nil {
		return "", usageErrorf("--out %q: name it .png or .svg, or give --format png|svg", out)
	}
	return f, nil
}

// evalProgress reports the stages of an evaluation to p.
func evalProgress(p *progress) func(eval.EvalProgress) {
	if p == nil {
		return nil
	}
	return func(e eval.EvalProgress) {
		if e.Done == 0 {
			stage := "comparing"
			if e.Stage == eval.StageEnroll {
				stage = "enrolling"
			}
			p.Stage(stage, e.Total, "fingers")
			return
		}
		p.Set(e.Done)
	}
}

// writeDETFile writes the DET image through a temporary file in the same
// directory, so a failure never leaves a truncated image behind.
func writeDETFile(path string, format eval.DETFormat, r *eval.EvalResult) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".det-*."+string(format))
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = eval.WriteDET(tmp, r, format, eval.DETWidth, eval.DETHeight); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
