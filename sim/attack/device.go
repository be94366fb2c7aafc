package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/tail"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// stopTimeout bounds the teardown of one device (HAL stop and launcher
// shutdown, which itself SIGKILLs after its grace period).
const stopTimeout = 20 * time.Second

// runner is one attack's hold on its device(s).
type runner struct {
	cfg *Config
	id  string
	dir string // the device directory, Config.Dir/<id>
	// root is Config.Log with the attack's id and no component, for the
	// launcher and libraries that add their own component (payserver).
	root *zap.Logger
	log  *zap.Logger // the harness's own lines: root, component "attack"
	devs []*device
	// anchors, if set, are the payment TA's channel trust anchors
	// (simdev.Config.TrustAnchors) for the devices booted after.
	anchors []byte
	// cleanups run at teardown, last first (rows without a device).
	cleanups []func()
}

// newRunner is the runner of attack id under cfg (defaults applied).
func newRunner(cfg *Config, id string) *runner {
	root := cfg.Log.With(zap.String("attack", id))
	return &runner{cfg: cfg, id: id, dir: filepath.Join(cfg.Dir, id), root: root,
		log: root.With(zap.String("component", "attack"))}
}

// cleanup registers f to run at teardown.
func (r *runner) cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// device is a booted emulated device: the stack (the launcher,
// optionally the HAL) and the CA sessions the attacker opened on it,
// which the stack closes at stop.
type device struct {
	r    *runner
	sim  *simdev.Stack
	logs *tail.Buffer
}

// boot starts every TA of the device in r.dir (restart as given) and, if
// withHAL, the HAL process next to them. A later boot of the same
// directory is a reboot: same fused key and stores, new boot.
func (r *runner) boot(ctx context.Context, withHAL bool, restart simdev.RestartPolicy) (*device, error) {
	// the last 256 KiB of the device's TA and HAL logs, for reporting
	// which check a TA logged
	logs := &tail.Buffer{Max: 256 << 10, Copy: r.cfg.Stderr}
	cfg := simdev.StackConfig{Config: r.simConfig(restart, logs), Boot: r.cfg.Boot}
	if withHAL {
		cfg.HALCommand = r.cfg.HALCommand
	}
	st, err := simdev.Up(ctx, cfg)
	if err != nil {
		return nil, err
	}
	dev := &device{r: r, sim: st, logs: logs}
	r.devs = append(r.devs, dev)
	return dev, nil
}

// simConfig is the launcher configuration of the attack's device.
func (r *runner) simConfig(restart simdev.RestartPolicy, stderr io.Writer) simdev.Config {
	return simdev.Config{
		Dir:          r.dir,
		Roles:        simdev.RunnableRoles,
		Command:      r.cfg.TACommand(r.dir),
		Restart:      restart,
		Log:          r.root.With(zap.String("component", "launcher")),
		Stderr:       stderr,
		TrustAnchors: r.anchors,
	}
}

// unjudgedLogLines is how many of the devices' last log lines (TAs, HAL)
// the findings of a row that could not be judged quote, each at most
// logLineMax bytes: enough to see what a TA was doing when a wait ran out
// (the operation it ran, the command it refused) without flooding the
// report.
const (
	unjudgedLogLines = 8
	logLineMax       = 240
)

// logTail returns the last n log lines of the attack's devices, in boot
// order, each cut to logLineMax bytes.
func (r *runner) logTail(n int) []string {
	var out []string
	for _, d := range r.devs {
		lines := strings.Split(strings.TrimRight(d.logs.String(), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			continue
		}
		for _, l := range lines[max(len(lines)-n, 0):] {
			l = compactLogLine(l)
			if len(l) > logLineMax {
				l = l[:logLineMax-3] + "..."
			}
			out = append(out, l)
		}
	}
	return out[max(len(out)-n, 0):]
}

// quotedLogNoise are the fields of a zap JSON line a quote drops: the
// same on every line of a process, or the source position.
var quotedLogNoise = []string{"caller", "pid", "boot_id"}

// compactLogLine returns a zap JSON line without quotedLogNoise (keys
// sorted), or l unchanged if it is not one.
func compactLogLine(l string) string {
	var m map[string]any
	if json.Unmarshal([]byte(l), &m) != nil {
		return l
	}
	for _, k := range quotedLogNoise {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return l
	}
	return string(b)
}

// teardown stops every device the attack booted.
func (r *runner) teardown() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	for _, d := range r.devs {
		if err := d.stop(); err != nil {
			r.log.Warn("device teardown", zap.Error(err))
		}
	}
}

// storePath is the directory handed to SET_ACTIVE_GROUP: it must exist and
// be writable (the 2.1 default wrapper's checks); the TA keeps templates in
// its sealed store, not there.
func (r *runner) storePath() string { return r.dir }

// stop closes the attacker's sessions, stops the HAL (before the TAs, as
// sim requires) and shuts the launcher down: every process ended by pid,
// every socket removed. It is idempotent.
func (d *device) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return d.sim.Close(ctx)
}

// takeOverHAL stops the honest HAL process: from now on the attacker is
// the HAL, pumping the fingerprint TA's events and relaying (or not) its
// envelopes itself.
func (d *device) takeOverHAL() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return d.sim.StopHAL(ctx)
}

// onStop registers f to run when the device stops (at once if it has).
func (d *device) onStop(f func()) {
	if d.sim.OnClose(f) != nil {
		f()
	}
}

// session opens a CA session on role's TA, through Config.Interpose if set;
// opts choose the login (rpc.AsUser for the payment app).
func (d *device) session(ctx context.Context, role tee.Role, opts ...rpc.SessionOption) (rpc.Invoker, error) {
	s, err := d.sim.Session(ctx, role, opts...)
	if err != nil {
		return nil, err
	}
	if d.r.cfg.Interpose != nil {
		return d.r.cfg.Interpose(role, s), nil
	}
	return s, nil
}

// sensor opens the fingerprint TA's sensor-control endpoint (the test
// bench's finger, not an REE capability).
func (d *device) sensor(ctx context.Context) (*simdev.Sensor, error) {
	return d.sim.Sensor(ctx)
}

// waitEvent returns the next launcher event of kind for role, skipping
// others, or an error when ctx ends or the device stops.
func (d *device) waitEvent(ctx context.Context, role tee.Role, kinds ...simdev.EventKind) (simdev.Event, error) {
	for {
		select {
		case e, ok := <-d.sim.Events():
			if !ok {
				return simdev.Event{}, errors.New("device shut down")
			}
			if e.Role != role {
				continue
			}
			for _, k := range kinds {
				if e.Kind == k {
					return e, nil
				}
			}
			if e.Kind == simdev.EventRestartFailed || e.Kind == simdev.EventGaveUp || e.Kind == simdev.EventRelayFailed {
				return e, fmt.Errorf("launcher: %v", e)
			}
		case <-ctx.Done():
			return simdev.Event{}, fmt.Errorf("waiting for %s to restart: %w", role, ctx.Err())
		}
	}
}

// findLog returns the first match of re in the device's log tail, or "".
func findLog(logs *tail.Buffer, re *regexp.Regexp) string { return re.FindString(logs.String()) }
