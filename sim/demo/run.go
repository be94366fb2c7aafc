package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
)

// Defaults for Config.
const (
	DefaultStepTimeout = 15 * time.Second
	// DefaultStopGrace is the launcher's SIGTERM → SIGKILL grace. An idle
	// demo device stops within milliseconds, but the fingerprint TA may be
	// inside a HAL's NEXT_EVENT long poll (up to 1 s) when SIGTERM arrives,
	// and on a loaded CI machine process exit itself can take a second
	// more; a kill there would be reported as a failed shutdown step.
	DefaultStopGrace = 5 * time.Second
	// cleanupTimeout bounds stopping the device after the run (also after
	// a cancelled context, e.g. SIGINT).
	cleanupTimeout = 15 * time.Second
)

// Errors of Run.
var (
	// ErrDirNotEmpty: Config.Dir exists and is not an empty directory. The
	// demo needs a fresh device (a reused one already has a PIN and
	// fingers enrolled).
	ErrDirNotEmpty = errors.New("demo: device directory exists and is not empty")
	// ErrLeftover: after the run a process or a socket of the device was
	// still there.
	ErrLeftover = errors.New("demo: device left a process or socket behind")
)

// Config configures Run.
type Config struct {
	// Dir is the device directory. It must not exist or be empty. ""
	// makes a fresh temporary directory.
	Dir string
	// Keep keeps the device directory after the run, for inspection
	// (fused key, sealed stores, TA data); otherwise it is removed.
	Keep bool
	// TACommand returns the launcher's Config.Command for device directory
	// dir: normally device.TACommand(fpemu, dir). Required.
	TACommand func(dir string) func(tee.Role) *exec.Cmd
	// HALCommand returns the command of the HAL process for dir: normally
	// device.HALCommand(fpemu, dir). Required.
	HALCommand func(dir string) *exec.Cmd
	// ServerCommand returns the `fpemu server` command with args (normally
	// exec.Command(fpemu, append([]string{"server"}, args...)...)): the
	// payment server the demo pays through. Required.
	ServerCommand func(args ...string) *exec.Cmd
	// Logs, if set, receives every process's JSON log lines (TAs, HAL,
	// launcher). Nil discards them.
	Logs io.Writer
	// LogLevel is the level of the demo's and the launcher's own lines
	// (the children's comes from TACommand/HALCommand). Default info.
	LogLevel zapcore.Level
	// OnStep, if set, is called with each step as soon as it ends.
	OnStep func(Step)
	// StepTimeout bounds each step. Default DefaultStepTimeout.
	StepTimeout time.Duration
	// ProfileDir, if set, makes the TAs and the HAL write their CPU
	// profiles there when the device stops (sim/device
	// Config.ProfileDir).
	ProfileDir string
}

// StepError reports the step that did not behave as expected.
type StepError struct {
	N    int
	Name string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %d (%s) failed: %v", e.N, e.Name, e.Err) }

// Unwrap returns why the step failed.
func (e *StepError) Unwrap() error { return e.Err }

// Report is the result of a run.
type Report struct {
	// Dir is the device directory; it still exists only if Kept.
	Dir  string
	Kept bool
	// Steps in order; the last one failed if the run failed at a step.
	Steps []Step
	// PIDs of the device's processes by role ("hal" for the HAL, "server"
	// for the payment server).
	PIDs map[string]int
	// Elapsed is the wall time of the whole run, shutdown included.
	Elapsed time.Duration
}

// OK reports whether every step ran and behaved as expected.
func (r *Report) OK() bool {
	if len(r.Steps) == 0 {
		return false
	}
	for _, s := range r.Steps {
		if !s.OK {
			return false
		}
	}
	return true
}

// Failed returns the first failed step.
func (r *Report) Failed() (Step, bool) {
	for _, s := range r.Steps {
		if !s.OK {
			return s, true
		}
	}
	return Step{}, false
}

// Run runs the whole scenario (see the package doc) on a fresh device and
// returns its trace. The error is nil only if every step behaved as
// expected and nothing was left behind; it is a *StepError when a step
// failed, wraps ErrLeftover when a process or socket
// survived, or the context's error when ctx ended. Run always stops every
// process it started before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r, err := newRunner(cfg)
	if err != nil {
		return &Report{Dir: cfg.Dir}, err
	}
	return r.run(ctx)
}

// run runs the scenario, then tears the device down.
func (r *runner) run(ctx context.Context) (rep *Report, err error) {
	start := time.Now()
	defer func() {
		if cerr := r.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		r.rep.Elapsed = time.Since(start)
		rep = r.rep
	}()
	for _, s := range scenario {
		if err := r.step(ctx, s.name, s.run); err != nil {
			n := len(r.rep.Steps)
			if ctx.Err() != nil {
				return nil, &StepError{N: n, Name: s.name, Err: fmt.Errorf("interrupted: %w", ctx.Err())}
			}
			return nil, &StepError{N: n, Name: s.name, Err: err}
		}
	}
	return nil, nil
}

// runner holds the device under test and what the steps learnt.
type runner struct {
	cfg  Config
	rep  *Report
	dir  string
	log  *zap.Logger
	dev  *device.Stack
	hc   *halclient.Client
	cbs  *halclient.Callbacks
	fp   drive.HAL // hc and cbs, as the flows drive them
	sen  *device.Sensor
	gk   *device.Session
	km   *device.Session
	pay  *device.Session
	done bool // teardown ran
	srv  serverSide
	sp   serverPay

	state
}

func newRunner(cfg Config) (*runner, error) {
	if cfg.TACommand == nil || cfg.HALCommand == nil || cfg.ServerCommand == nil {
		return nil, errors.New("demo: Config.TACommand, Config.HALCommand and Config.ServerCommand are required")
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	dir, err := deviceDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, dir: dir, rep: &Report{Dir: dir, PIDs: map[string]int{}}, log: newLogger(cfg.Logs, "demo", cfg.LogLevel)}
	return r, nil
}

// deviceDir returns an absolute, fresh device directory: dir if it does
// not exist or is empty, else a new temporary directory when dir is "".
func deviceDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "fpemu-demo-")
		if err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	ents, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
		return abs, nil
	case err != nil:
		return "", fmt.Errorf("demo: %w", err)
	case len(ents) > 0:
		return "", fmt.Errorf("%w: %s", ErrDirNotEmpty, abs)
	}
	return abs, nil
}

// newLogger returns a JSON logger to w with the component field, or a
// no-op logger when w is nil.
func newLogger(w io.Writer, component string, level zapcore.Level) *zap.Logger {
	return newRootLogger(w, level).With(zap.String("component", component))
}

// newRootLogger is newLogger without the component field, for a library
// that adds its own (payserver/ca adds "ca"): zap would write the key
// twice (tee.NewRootLoggerTo).
func newRootLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	if w == nil {
		return zap.NewNop()
	}
	return tee.NewRootLoggerTo(w, level)
}

// stepFunc is a step's body. It records observations in rec and returns an
// error when the device did not behave as expected.
type stepFunc func(r *runner, ctx context.Context, rec *record) error

// record is what a step body reports besides its error.
type record struct {
	Details
	// elapsed, when set, replaces the measured wall time (for steps whose
	// time is a part of what they do, such as the app's wait for the bio
	// relay).
	elapsed time.Duration
}

// step runs one step under StepTimeout and appends it to the report.
func (r *runner) step(ctx context.Context, name string, fn stepFunc) error {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	defer cancel()
	var rec record
	t0 := time.Now()
	err := fn(r, sctx, &rec)
	el := time.Since(t0)
	if rec.elapsed > 0 {
		el = rec.elapsed
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted: %w", err)
	}
	s := Step{N: len(r.rep.Steps) + 1, Name: name, OK: err == nil, Elapsed: el, Details: rec.Details, Err: err}
	r.rep.Steps = append(r.rep.Steps, s)
	if r.cfg.OnStep != nil {
		r.cfg.OnStep(s)
	}
	r.log.Info("step", zap.Int("n", s.N), zap.String("step", name), zap.Bool("ok", s.OK), zap.Duration("elapsed", el), zap.Error(err))
	return err
}

// close tears the device down if no step did, checks that nothing is left
// and removes the directory unless Keep.
func (r *runner) close() error {
	var errs []error
	if !r.done {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		errs = append(errs, r.teardown(ctx))
		cancel()
	}
	if r.cfg.Keep {
		r.rep.Kept = true
	} else if err := os.RemoveAll(r.dir); err != nil {
		errs = append(errs, fmt.Errorf("demo: remove device dir: %w", err))
	}
	return errors.Join(errs...)
}
