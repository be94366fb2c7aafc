package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"

	"go.uber.org/zap"

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// stopTimeout bounds the teardown of one device (HAL stop and launcher
// shutdown, which itself SIGKILLs after its grace period).
const stopTimeout = 20 * time.Second

// runner is one attack's hold on its device(s).
type runner struct {
	cfg  *Config
	id   string
	dir  string // the device directory, Config.Dir/<id>
	log  *zap.Logger
	devs []*device
}

// device is a booted emulated device: the launcher, optionally the HAL,
// and the CA sessions the attacker opened on it.
type device struct {
	r    *runner
	sim  *simdev.Device
	hal  *simdev.HAL
	logs *logTail

	mu      sync.Mutex
	closers []func()
	stopped bool
}

// boot starts every TA of the device in r.dir (restart as given) and, if
// withHAL, the HAL process next to them. A later boot of the same
// directory is a reboot: same fused key and stores, new boot.
func (r *runner) boot(ctx context.Context, withHAL bool, restart simdev.RestartPolicy) (*device, error) {
	logs := &logTail{max: 256 << 10}
	var stderr io.Writer = logs
	if r.cfg.Stderr != nil {
		stderr = io.MultiWriter(logs, r.cfg.Stderr)
	}
	d, err := r.cfg.boot(ctx, r.simConfig(restart, stderr))
	if err != nil {
		return nil, err
	}
	dev := &device{r: r, sim: d, logs: logs}
	r.devs = append(r.devs, dev)
	if withHAL {
		h, err := simdev.StartHAL(ctx, d, r.cfg.HALCommand(r.dir))
		if err != nil {
			return nil, fmt.Errorf("start HAL: %w", err)
		}
		dev.hal = h
	}
	return dev, nil
}

// simConfig is the launcher configuration of the attack's device.
func (r *runner) simConfig(restart simdev.RestartPolicy, stderr io.Writer) simdev.Config {
	return simdev.Config{
		Dir:     r.dir,
		Roles:   simdev.RunnableRoles,
		Command: r.cfg.TACommand(r.dir),
		Restart: restart,
		Log:     r.log.With(zap.String("component", "launcher")),
		Stderr:  stderr,
	}
}

// teardown stops every device the attack booted.
func (r *runner) teardown() {
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
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	closers := d.closers
	d.closers = nil
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	var errs []error
	if d.hal != nil {
		errs = append(errs, d.hal.Stop(ctx))
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	errs = append(errs, d.sim.Shutdown(ctx))
	return errors.Join(errs...)
}

// takeOverHAL stops the honest HAL process: from now on the attacker is
// the HAL, pumping the fingerprint TA's events and relaying (or not) its
// envelopes itself.
func (d *device) takeOverHAL() error {
	if d.hal == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := d.hal.Stop(ctx)
	d.hal = nil
	return err
}

func (d *device) onStop(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closers = append(d.closers, f)
}

// session opens a CA session on role's TA, through Config.Interpose if set;
// opts choose the login (rpc.AsUser for the payment app).
func (d *device) session(ctx context.Context, role tee.Role, opts ...rpc.SessionOption) (rpc.Invoker, error) {
	s, err := d.sim.OpenSession(ctx, role, opts...)
	if err != nil {
		return nil, fmt.Errorf("open session on %s: %w", role, err)
	}
	d.onStop(func() { _ = s.Close() })
	if d.r.cfg.Interpose != nil {
		return d.r.cfg.Interpose(role, s), nil
	}
	return s, nil
}

// sensor opens the fingerprint TA's sensor-control endpoint (the test
// bench's finger, not an REE capability).
func (d *device) sensor(ctx context.Context) (*simdev.Sensor, error) {
	s, err := d.sim.OpenSensor(ctx)
	if err != nil {
		return nil, fmt.Errorf("open sensor: %w", err)
	}
	d.onStop(func() { _ = s.Close() })
	return s, nil
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

// logTail keeps the last max bytes of the device's TA and HAL logs, for
// reporting which check a TA logged.
type logTail struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	written int64 // bytes ever written
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written += int64(len(p))
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - l.max; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

// since returns what was written after the first from bytes (as much of it
// as the tail still holds) and the new total.
func (l *logTail) since(from int64) ([]byte, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.written-from, int64(len(l.buf)))
	return append([]byte(nil), l.buf[int64(len(l.buf))-n:]...), l.written
}

// total returns how many bytes were ever written.
func (l *logTail) total() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written
}

// find returns the first match of re in the log, or "".
func (l *logTail) find(re *regexp.Regexp) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(re.Find(l.buf))
}
