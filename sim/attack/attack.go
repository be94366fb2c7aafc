package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/keyshare"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Verdict is the outcome of one attack.
type Verdict string

// Verdicts. Only Rejected and Survived mean the defence held.
const (
	// Rejected: every attack input was refused by the rule it targets, and
	// the control (the genuine input) was accepted.
	Rejected Verdict = "rejected"
	// Survived: the device kept working and lost nothing.
	Survived Verdict = "survived"
	// NotRejected: at least one attack input was accepted.
	NotRejected Verdict = "NOT REJECTED"
	// NotSurvived: a TA died, stopped answering, or lost or corrupted
	// state.
	NotSurvived Verdict = "NOT SURVIVED"
	// Inconclusive: the attack could not be judged — its setup or control
	// failed, or a TA answered in a way the protocol does not allow.
	Inconclusive Verdict = "ERROR"
)

// Held reports whether v means the defence held.
func (v Verdict) Held() bool { return v == Rejected || v == Survived }

// Result is one row of the report: attack → expected defence → observed.
type Result struct {
	// ID names the attack (what --run matches), e.g. "hat-flip-keymaster".
	ID string `json:"id"`
	// Attack says what the compromised REE does.
	Attack string `json:"attack"`
	// Defence says which rule must stop it and how.
	Defence string `json:"defence"`
	// Observed summarises what the device did.
	Observed string `json:"observed"`
	// Verdict is the outcome.
	Verdict Verdict `json:"result"`
	// Held is Verdict.Held().
	Held bool `json:"held"`
	// Findings lists, when the defence did not hold, each input that got
	// through (or could not be judged), precisely enough to reproduce;
	// for an attack that could not be judged, then its devices' last log
	// lines, each prefixed "log: ".
	Findings []string `json:"findings,omitempty"`
	// Duration is how long the attack took, device boot included.
	Duration time.Duration `json:"-"`
	// Millis is Duration in milliseconds (for JSON).
	Millis int64 `json:"ms"`
}

// Report is the outcome of a run, in attack order.
type Report struct {
	Results []Result
}

// OK reports whether every attack's defence held (and at least one ran).
func (r *Report) OK() bool { return len(r.Results) > 0 && len(r.Failed()) == 0 }

// Failed returns the results whose defence did not hold.
func (r *Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if !res.Held {
			out = append(out, res)
		}
	}
	return out
}

// Info describes one attack of the suite.
type Info struct {
	ID, Attack, Defence string
	// Want is the verdict that means the defence held (Rejected or
	// Survived).
	Want Verdict
}

// Config configures Run.
type Config struct {
	// Dir is where devices are booted: each attack gets a fresh
	// subdirectory Dir/<id>, which must not exist yet. Its sockets are
	// removed and its processes ended when the attack is done; its data
	// stays for inspection. Paths must be short enough for sockaddr_un
	// (sim refuses a device directory whose sockets exceed 107 bytes).
	// Required.
	Dir string
	// TACommand returns the launcher command for the TAs of the device in
	// dir: normally simdev.TACommand(fpemu, dir). Required.
	TACommand func(dir string) func(tee.Role) *exec.Cmd
	// HALCommand returns the command of the HAL process of the device in
	// dir: normally simdev.HALCommand(fpemu, dir). Required.
	HALCommand func(dir string) *exec.Cmd
	// ServerCommand returns the command of a payment server process with
	// args (`fpemu server ARGS`, docs/protocol.md §14) for the srv-* rows:
	// normally fpemu's own server subcommand. Nil skips nothing: those
	// rows then report ERROR.
	ServerCommand func(args ...string) *exec.Cmd
	// SECommand returns the command of a shield card process for the
	// shield-* rows (docs/protocol.md §15): the card whose directory is dir
	// (created on first use) served on the Unix socket sock until SIGTERM —
	// normally `fpemu se --dir DIR --socket SOCK`. The rows start it, wait
	// until sock accepts a connection, kill it by pid for a power loss
	// (SIGKILL) and start it again, and end it by pid at teardown. A test
	// puts a deliberately weakened card (a canary) here. Nil: those rows
	// report ERROR.
	SECommand func(dir, sock string) *exec.Cmd
	// Match selects attacks by ID; nil runs all.
	Match *regexp.Regexp
	// FuzzFrames is how many fuzzed frames the fuzz attack sends to each
	// TA socket. Default DefaultFuzzFrames.
	FuzzFrames int
	// FuzzSeed seeds the fuzz attack's mutations (reported in its row, so
	// a run can be repeated). 0 draws one.
	FuzzSeed uint64
	// AttackTimeout bounds each attack. Default DefaultAttackTimeout.
	AttackTimeout time.Duration
	// Log receives the harness's, the launchers' and the in-process
	// payment servers' log lines. It must carry no "component" field
	// (tee.NewRootLoggerTo): each adds its own ("attack", "launcher",
	// "payserver"), and zap would write the key twice. Default: none.
	Log *zap.Logger
	// Stderr, if set, also receives every TA's and HAL's log lines.
	Stderr io.Writer
	// OnResult, if set, is called with each result as soon as it is known.
	OnResult func(Result)
	// OnProgress, if set, is called before each attack starts and once
	// more when the last has ended, from Run's goroutine: how many rows
	// are done of how many selected, and which attack runs next.
	OnProgress func(Progress)
	// Interpose, if set, wraps every CA→TA session the attacker opens:
	// a test hook that puts a deliberately weakened TA (a test double)
	// between the attacker and the real one, to prove the checks can
	// fail. Nil in production.
	Interpose func(role tee.Role, inv rpc.Invoker) rpc.Invoker
	// ShieldCombine, if set, is the middleware's key recombination in the
	// shield rows (middleware.OpenOptions.Combine): a test hook for a
	// careless key-share double (a canary). Nil in production.
	ShieldCombine func(shares []keyshare.Share, serial [keyshare.SerialSize]byte) ([]byte, error)
	// Boot, if set, replaces simdev.Boot for every device the suite boots: a
	// test hook for a deliberately careless launcher (a canary). Nil in
	// production.
	Boot func(ctx context.Context, cfg simdev.Config) (*simdev.Device, error)
	// Dial, if set, replaces simdev.Device.Dial where the socket-squat attack
	// connects a client through the launcher (a canary's naive dialer).
	// Nil in production.
	Dial func(ctx context.Context, d *simdev.Device, role tee.Role) (*rpc.Client, error)
}

func (c *Config) boot(ctx context.Context, cfg simdev.Config) (*simdev.Device, error) {
	if c.Boot != nil {
		return c.Boot(ctx, cfg)
	}
	return simdev.Boot(ctx, cfg)
}

// Progress is how far Run has got: Done of Total selected attacks have
// ended; Next is the ID of the one starting ("" after the last).
type Progress struct {
	Done, Total int
	Next        string
}

// Defaults for Config.
const (
	DefaultFuzzFrames    = 2000
	DefaultAttackTimeout = 2 * time.Minute
)

// Errors of Run that mean it could not start.
var (
	// ErrNoAttack: Config.Match selects no attack.
	ErrNoAttack = errors.New("attack: no attack matches")
	// ErrDirTooLong: Config.Dir is too long for the devices' Unix socket
	// paths (sockaddr_un holds 107 bytes).
	ErrDirTooLong = errors.New("attack: directory too long for socket paths")
)

// attack is one row of the suite.
type attack struct {
	Info
	run func(ctx context.Context, r *runner, t *tally)
}

// given makes a row's run from its fixture and its body: setup boots the
// device the row needs (recording in t why it could not, and returning
// nil then) and f runs on it.
func given[F any](setup func(*runner, context.Context, *tally) *F, f func(context.Context, *runner, *F, *tally)) func(context.Context, *runner, *tally) {
	return func(ctx context.Context, r *runner, t *tally) {
		if fx := setup(r, ctx, t); fx != nil {
			f(ctx, r, fx, t)
		}
	}
}

// suite is every attack, in report order.
var suite = []attack{
	hatFlipKeymaster,
	hatFlipEnroll,
	hatReplay,
	hatGuessedKey,
	enrollStaleChallenge,
	envReplayKey,
	envRedirect,
	envReorder,
	envForge,
	bioReplay,
	bioReuse,
	crossAppKeys,
	publicLogin,
	storeSwap,
	storeRollback,
	killMidEnroll,
	fuzzFrames,
	hillClimb,
	resetLockoutOtherUser,
	enrollOtherSID,
	permanentLockout,
	dirHijack,
	symlinkPlant,
	secondLauncher,
	socketSquat,
	slowCallbackReader,
	connFlood,
	stalledFrames,
	kmOpExhaust,
	chanMITMCert,
	chanMITMEphemeral,
	chanReplay,
	chanReorder,
	chanReflect,
	chanDowngrade,
	chanCrossSession,
	chanOtherDevice,
	chanTruncated,
	chanForgedFeedback,
}

// Attacks lists the suite, in report order.
func Attacks() []Info {
	out := make([]Info, len(suite))
	for i, a := range suite {
		out[i] = a.Info
	}
	return out
}

// Run boots a device per selected attack, plays it and returns the report.
// It returns an error only when it could not run at all (bad Config, no
// attack selected, Dir unusable) or ctx ended; an attack that fails is a
// Result. Every process it started is ended and every socket removed
// before it returns, also when ctx is cancelled.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" || cfg.TACommand == nil || cfg.HALCommand == nil {
		return nil, errors.New("attack: Config.Dir, TACommand and HALCommand are required")
	}
	if cfg.FuzzFrames <= 0 {
		cfg.FuzzFrames = DefaultFuzzFrames
	}
	if cfg.AttackTimeout <= 0 {
		cfg.AttackTimeout = DefaultAttackTimeout
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	var selected []attack
	for _, a := range suite {
		if cfg.Match == nil || cfg.Match.MatchString(a.ID) {
			selected = append(selected, a)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("%w %q", ErrNoAttack, cfg.Match)
	}
	if err := checkSocketPaths(cfg.Dir, selected); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	rep := &Report{}
	progress := func(next string) {
		if cfg.OnProgress != nil {
			cfg.OnProgress(Progress{Done: len(rep.Results), Total: len(selected), Next: next})
		}
	}
	for _, a := range selected {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		progress(a.ID)
		res := runOne(ctx, &cfg, a)
		rep.Results = append(rep.Results, res)
		if cfg.OnResult != nil {
			cfg.OnResult(res)
		}
	}
	progress("")
	return rep, ctx.Err()
}

// maxSocketPath is the usable length of sockaddr_un.sun_path on Linux.
const maxSocketPath = 107

// checkSocketPaths refuses a Dir whose devices' longest socket path
// (Dir/<id>/sock/fingerprint-sensor.sock) would not fit sockaddr_un.
func checkSocketPaths(dir string, attacks []attack) error {
	for _, a := range attacks {
		if p := simdev.SensorSocketPath(filepath.Join(dir, a.ID)); len(p) > maxSocketPath {
			return fmt.Errorf("%w: %q would exceed %d bytes", ErrDirTooLong, p, maxSocketPath)
		}
	}
	return nil
}

// runOne plays one attack on its own device and turns its tally into a
// Result. The device is always torn down before it returns.
func runOne(parent context.Context, cfg *Config, a attack) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, cfg.AttackTimeout)
	defer cancel()
	t := &tally{want: a.Want}
	r := newRunner(cfg, a.ID)
	func() {
		defer r.teardown()
		defer func() {
			if p := recover(); p != nil {
				t.brokef("harness panic: %v", p)
			}
		}()
		if err := os.Mkdir(r.dir, 0o700); err != nil {
			t.brokef("device directory: %v", err)
			return
		}
		a.run(ctx, r, t)
		if t.verdict() == Inconclusive {
			t.logs = r.logTail(unjudgedLogLines)
		}
	}()
	switch {
	case parent.Err() != nil:
		// The interruption is the reason; whatever failed after it (a
		// boot cut short, a dropped connection) is its consequence, so it
		// leads the findings and the observed text.
		t.broken = append([]string{"interrupted before it finished"}, t.broken...)
	case ctx.Err() != nil:
		t.brokef("did not finish within %v", cfg.AttackTimeout)
	}
	d := time.Since(start)
	v := t.verdict()
	return Result{
		ID: a.ID, Attack: a.Attack, Defence: a.Defence,
		Observed: t.observed(), Verdict: v, Held: v.Held(), Findings: t.findings(),
		Duration: d, Millis: d.Milliseconds(),
	}
}
