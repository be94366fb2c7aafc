package conform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/hal/vts"
	"github.com/fpemu/fpemu/sim/device"
)

// Target is the device under test: the endpoints a vendor's test setup
// exposes (`fpemu device up` prints them).
type Target struct {
	// HAL is the north-API socket (IBiometricsFingerprint@2.1 over gRPC,
	// hal/halpb). Required.
	HAL string `json:"hal"`
	// Gatekeeper is the Gatekeeper TA's CA→TA socket (docs/protocol.md
	// §3). Empty: cases that need a valid enroll HAT are skipped.
	Gatekeeper string `json:"gatekeeper,omitempty"`
	// Sensor is the fingerprint TA's sensor-control socket
	// (docs/protocol.md §9.10). Empty: cases that need a finger are
	// skipped.
	Sensor string `json:"sensor,omitempty"`
	// Keymaster is the Keymaster TA's CA→TA socket (docs/protocol.md §2).
	// Empty: the case that checks the authenticate HAT's MAC the way
	// Keystore uses it is skipped.
	Keymaster string `json:"keymaster,omitempty"`
}

// Config configures Run.
type Config struct {
	Target
	// StorePath is the directory passed to setActiveGroup (VTS's kTmpDir,
	// /data/vendor_de/0/fpdata/ on a phone). It must exist and be writable
	// by the HAL. Empty: Run makes a temporary directory (mode 0700) and
	// removes it afterwards, which suits a HAL running as the same user.
	StorePath string
	// Run, if set, selects the cases whose name or suite/name it matches.
	Run *regexp.Regexp
	// Skip, if set, deselects the cases whose name or suite/name it
	// matches.
	Skip *regexp.Regexp
	// OnResult, if set, is called with each result as soon as its case
	// ends.
	OnResult func(Result)
	// Log receives the runner's own diagnostics. Default: none.
	Log *zap.Logger

	// credential, if set, is the Gatekeeper user the run enrolls with
	// instead of one it creates (the caller keeps and closes it): a test
	// hook for doubles that must mint HATs of the run's own user.
	credential *credential
}

// Errors of Run.
var (
	// ErrNoHAL: Config.HAL is empty.
	ErrNoHAL = errors.New("conform: no HAL address")
	// ErrNoCases: the selection matched no case.
	ErrNoCases = errors.New("conform: --run/--skip select no case")
)

// Run runs the selected cases, in the order of Cases, against the device
// of cfg.Target and returns their results, every case not selected among
// them as Skip with Reason NotSelected. The error is not nil when the
// run could not start (HAL, Gatekeeper or sensor unreachable, no case
// selected) or ctx ended; in the latter case the report holds the cases
// that ran. Failing cases are not an error: see Report.OK.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{Target: cfg.Target, Start: start}
	cases := selectCases(cfg.Run, cfg.Skip)
	if len(cases) == 0 {
		return rep, ErrNoCases
	}
	r, err := open(ctx, cfg)
	if err != nil {
		return rep, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.close(cctx); err != nil {
			r.log.Warn("closing", zap.Error(err))
		}
	}()
	for _, c := range allCases() {
		if ctx.Err() != nil {
			break
		}
		var res Result
		if selected(c, cfg.Run, cfg.Skip) {
			res = r.runCase(ctx, c)
		} else {
			res = Result{Suite: c.Suite, Name: c.Name, Status: Skip, Reason: NotSelected}
		}
		rep.Results = append(rep.Results, res)
		if cfg.OnResult != nil {
			cfg.OnResult(res)
		}
	}
	rep.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("conform: interrupted: %w", err)
	}
	return rep, nil
}

// NotSelected is the Reason of a case that --run did not select or --skip
// deselected: it is reported as skipped (text, JSON, JUnit
// <skipped message="not selected">), so a report always lists every case
// and a deselected one never counts as passed.
const NotSelected = "not selected"

// CheckSelection returns ErrNoCases when --run and --skip (cfg.Run,
// cfg.Skip) leave no case to run, so that a command can refuse the
// invocation before it reaches for any device.
func CheckSelection(cfg Config) error {
	if len(selectCases(cfg.Run, cfg.Skip)) == 0 {
		return ErrNoCases
	}
	return nil
}

// selectCases applies --run and --skip: the cases that run.
func selectCases(run, skip *regexp.Regexp) []caseDef {
	var out []caseDef
	for _, c := range allCases() {
		if selected(c, run, skip) {
			out = append(out, c)
		}
	}
	return out
}

// selected reports whether c matches run (if set) and not skip (if set),
// by name or suite/name.
func selected(c caseDef, run, skip *regexp.Regexp) bool {
	full := string(c.Suite) + "/" + c.Name
	if run != nil && !run.MatchString(c.Name) && !run.MatchString(full) {
		return false
	}
	return skip == nil || (!skip.MatchString(c.Name) && !skip.MatchString(full))
}

// runner holds the connections a run shares.
type runner struct {
	cfg        Config
	log        *zap.Logger
	hal        *halclient.Client
	store      string
	ownStore   bool
	cred       *credential       // nil without Target.Gatekeeper
	sharedCred bool              // cred is Config.credential: the caller closes it
	sensor     *device.Sensor    // nil without Target.Sensor
	km         *keymasterSession // nil without Target.Keymaster

	// quiesceWait is how long teardown waits for the ERROR_CANCELED of its
	// cancel(); shortened once the HAL has shown it sends none from idle.
	quiesceWait time.Duration
}

func open(ctx context.Context, cfg Config) (r *runner, err error) {
	if cfg.HAL == "" {
		return nil, ErrNoHAL
	}
	r = &runner{cfg: cfg, log: cfg.Log, store: cfg.StorePath, quiesceWait: Timeout}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	defer func() {
		if err != nil {
			_ = r.close(context.Background())
		}
	}()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if r.hal, err = halclient.Dial(dctx, cfg.HAL); err != nil {
		return r, fmt.Errorf("conform: HAL: %w", err)
	}
	if r.store == "" {
		if r.store, err = os.MkdirTemp("", "fpemu-conform-store-"); err != nil {
			return r, fmt.Errorf("conform: store path: %w", err)
		}
		r.ownStore = true
	}
	switch {
	case cfg.credential != nil:
		r.cred, r.sharedCred = cfg.credential, true
	case cfg.Gatekeeper != "":
		if r.cred, err = openCredential(dctx, cfg.Gatekeeper, GatekeeperUID); err != nil {
			return r, err
		}
	}
	if cfg.Keymaster != "" {
		if r.km, err = openKeymaster(dctx, cfg.Keymaster); err != nil {
			return r, err
		}
	}
	if cfg.Sensor != "" {
		if r.sensor, err = device.DialSensor(dctx, cfg.Sensor); err != nil {
			return r, fmt.Errorf("conform: sensor control %s: %w", cfg.Sensor, err)
		}
		if err = r.sensor.Reset(dctx); err != nil {
			return r, fmt.Errorf("conform: sensor control: reset: %w", err)
		}
	}
	return r, nil
}

func (r *runner) close(ctx context.Context) error {
	var errs []error
	if r.cred != nil && !r.sharedCred {
		errs = append(errs, r.cred.Close(ctx))
	}
	if r.sensor != nil {
		errs = append(errs, r.sensor.Close())
	}
	if r.km != nil {
		errs = append(errs, r.km.Close())
	}
	if r.hal != nil {
		errs = append(errs, r.hal.Close())
	}
	if r.ownStore {
		errs = append(errs, os.RemoveAll(r.store))
	}
	return errors.Join(errs...)
}

// Reasons a case is skipped.
const (
	needGatekeeperReason = "needs --gatekeeper: a valid enroll HAT is the PASSWORD token the device's Gatekeeper mints for the preEnroll challenge (gatekeeperd's role)"
	needSensorReason     = "needs --sensor: fingers reach the secure sensor only through the fingerprint TA's sensor-control endpoint"
	needKeymasterReason  = "needs --keymaster: only the device's Keymaster holds the auth-token key that verifies the HAT's MAC"
)

// missing says why a case needing needs cannot run, or "".
func (r *runner) missing(needs Need) string {
	var why []string
	if needs&NeedGatekeeper != 0 && r.cred == nil {
		why = append(why, needGatekeeperReason)
	}
	if needs&NeedSensor != 0 && r.sensor == nil {
		why = append(why, needSensorReason)
	}
	if needs&NeedKeymaster != 0 && r.km == nil {
		why = append(why, needKeymasterReason)
	}
	return strings.Join(why, "; ")
}

// has reports whether every endpoint of needs is available.
func (r *runner) has(needs Need) bool { return r.missing(needs) == "" }

// teardownTimeout bounds a case's cleanups and quiescing.
const teardownTimeout = 20 * time.Second

// runCase runs one case: skip check, VTS SetUp, the body under the case's
// time limit, then teardown (quiesce, cleanups).
func (r *runner) runCase(ctx context.Context, c caseDef) Result {
	start := time.Now()
	res := Result{Suite: c.Suite, Name: c.Name}
	if why := r.missing(c.Needs); why != "" {
		res.Status, res.Reason = Skip, why
		return res
	}
	limit := c.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	cctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("case time limit %v reached", limit))
	defer cancel()
	t := &T{ctx: cctx, r: r, hal: r.hal}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("panic: %v", p)
			}
		}()
		// VTS SetUp: setActiveGroup(kGroupId, kTmpDir) == SYS_OK.
		if err := vts.SetUp(cctx, r.hal, r.env()); err != nil {
			t.Fatalf("SetUp: %v", err)
		}
		c.run(t)
	}()
	select {
	case <-done:
	case <-time.After(limit + teardownTimeout):
		// Every call is bounded by cctx; this only guards against a
		// transport that ignores cancellation. The body is abandoned.
		res.Status, res.Reason = Fail, fmt.Sprintf("case did not end within %v of its time limit", teardownTimeout)
		res.Duration = time.Since(start)
		return res
	}
	if cctx.Err() != nil && len(t.failures) == 0 && t.skip == "" {
		t.Errorf("%v", context.Cause(cctx))
	}
	tctx, tcancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer tcancel()
	if t.cbs != nil {
		t.cbs.Close()
	}
	// End whatever the case left running first, so that cleanups
	// (template removal) do not pre-empt it.
	r.quiesce(tctx)
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		if err := t.cleanups[i](tctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	res.Status, res.Reason = t.outcome()
	res.Duration = time.Since(start)
	return res
}

func (r *runner) env() vts.Env { return vts.Env{StorePath: r.store, Timeout: Timeout} }

// quiesce leaves the HAL idle for the next case: a fresh callback,
// cancel(), and a wait for its ERROR_CANCELED, so that no operation a
// case left running (for instance an enrollment a broken HAL accepted)
// talks into the next case; then the sensor queue is emptied. This is
// harness hygiene VTS does not do (its cases share one process but each
// waits only for its own callback).
func (r *runner) quiesce(ctx context.Context) {
	cbs, err := r.hal.SetNotify(ctx)
	if err != nil {
		r.log.Warn("quiesce: setNotify", zap.Error(err))
		return
	}
	defer cbs.Close()
	if st, err := r.hal.Cancel(ctx); err != nil || st != hidl.SysOK {
		r.log.Warn("quiesce: cancel", zap.Stringer("status", st), zap.Error(err))
	} else {
		wctx, cancel := context.WithTimeout(ctx, r.quiesceWait)
		_, _, err := cbs.WaitFor(wctx, isCanceled)
		cancel()
		if err != nil && r.quiesceWait == Timeout {
			r.log.Warn("quiesce: no ERROR_CANCELED after cancel(); later teardowns wait less", zap.Error(err))
			r.quiesceWait = 200 * time.Millisecond
		}
	}
	if r.sensor != nil {
		if err := r.sensor.Reset(ctx); err != nil {
			r.log.Warn("quiesce: sensor reset", zap.Error(err))
		}
	}
}

// removeAll is remove(gid, 0) outside a case body (cleanups): on its own
// callback, waiting for onRemoved(remaining 0).
func (r *runner) removeAll(ctx context.Context, gid uint32) error {
	cbs, err := r.hal.SetNotify(ctx)
	if err != nil {
		return err
	}
	defer cbs.Close()
	st, err := r.hal.Remove(ctx, gid, 0)
	if err != nil {
		return err
	}
	if st != hidl.SysOK {
		return fmt.Errorf("remove(%d, 0) = %v", gid, st)
	}
	wctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cb, _, err := cbs.WaitFor(wctx, func(cb hidl.Callback) bool {
		switch c := cb.(type) {
		case hidl.OnRemoved:
			return c.Remaining == 0
		case hidl.OnError:
			return true
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("remove(%d, 0): %w", gid, err)
	}
	if e, ok := cb.(hidl.OnError); ok {
		return fmt.Errorf("remove(%d, 0): %v", gid, e)
	}
	return nil
}
