package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/devdir"
)

// Defaults for Config.
const (
	DefaultReadyTimeout = 10 * time.Second
	DefaultStopGrace    = 3 * time.Second
)

// maxSocketPath is the usable length of sockaddr_un.sun_path on Linux.
const maxSocketPath = 107

// ErrShutdown is returned by Device methods called after Shutdown.
var ErrShutdown = errors.New("sim: device is shut down")

// ErrNotRunning means the role is not running on the device (never
// booted, or dead and not restarted).
var ErrNotRunning = errors.New("sim: TA not running")

// Config configures Boot.
type Config struct {
	// Dir is the device directory (created 0700 if missing). It holds the
	// fused key, the sockets and each TA's data; see taproc's layout.
	Dir string
	// Roles are the TAs to start, in boot order. Default: keymaster,
	// gatekeeper. Keymaster must come before the TAs it sends keys to.
	Roles []tee.Role
	// Command returns a fresh, unstarted command that runs the TA process
	// of role, e.g. `fpemu ta <role> --dir DIR`. The launcher adds the
	// inherited descriptors, the process group and Pdeathsig. Required.
	Command func(role tee.Role) *exec.Cmd
	// ReadyTimeout bounds each TA's start. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopGrace is how long Shutdown waits after SIGTERM before SIGKILL.
	// Default DefaultStopGrace.
	StopGrace time.Duration
	// Restart says what to do when a TA dies. The zero value reports only.
	Restart RestartPolicy
	// Log receives the launcher's own log lines. Default:
	// tee.NewLogger("launcher", info).
	Log *zap.Logger
	// Stderr, if set, also receives every TA's stderr (their JSON logs).
	// The launcher always keeps the tail for crash reports.
	Stderr io.Writer
	// ClientGroup, if set, is the group whose members may reach the
	// device's CA→TA sockets and the HAL's (apps running as their own
	// uids, told apart by the TA host through SO_PEERCRED): the device
	// directory and sock/ become 0710 and those sockets 0660, all with
	// this group. The sensor-control socket, data/ and rpmb/ stay the
	// launcher user's alone (docs/protocol.md §7.7). Nil: nobody else.
	ClientGroup *int
	// TrustAnchors, if set, are handed to the payment TA in its
	// provisioning record (boot.Record.Anchors; docs/protocol.md §5.3,
	// §8.11): the trusted channel's roots and pinned server key, which no
	// TA command can change.
	TrustAnchors []byte
	// ProfileDir, if set, asks every process the launcher starts, TA or
	// HAL, to write a CPU profile of its life, DIR/ROLE.cpu.pprof
	// ("hal.cpu.pprof" for the HAL), when it is stopped by SIGTERM: the
	// launcher adds profile.DirEnv=DIR to the child's environment
	// (internal/profile). fpemu's own processes honour it; a vendor's
	// (--exec) may ignore it — its argv is unchanged (docs/protocol.md
	// §7.8). Not a secret.
	ProfileDir string
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return errors.New("sim: Config.Dir is required")
	}
	if c.Command == nil {
		return errors.New("sim: Config.Command is required")
	}
	if len(c.Roles) == 0 {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper}
	}
	seen := map[tee.Role]bool{}
	for _, r := range c.Roles {
		if _, err := tee.UUIDOf(r); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		if seen[r] {
			return fmt.Errorf("sim: role %s listed twice", r)
		}
		seen[r] = true
	}
	if c.ProfileDir != "" {
		abs, err := filepath.Abs(c.ProfileDir)
		if err != nil {
			return fmt.Errorf("sim: Config.ProfileDir: %w", err)
		}
		c.ProfileDir = abs
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.Log == nil {
		c.Log = tee.NewLogger("launcher", zap.InfoLevel)
	}
	return nil
}

// provisioner mints the provisioning record a role's process reads on fd 3.
// Every call for the same role within one boot yields the same identity,
// keys and clock origin, so a restarted TA finds its state.
type provisioner interface {
	record(role tee.Role) ([]byte, error)
}

// relayer performs the REE side of key distribution: it carries
// Keymaster's auth-token key, sealed, to each of the recipients.
type relayer func(ctx context.Context, d *Device, recipients []tee.Role) error

// Device is a booted emulated device: one OS process per TA, supervised by
// the launcher. Its methods are safe for concurrent use.
type Device struct {
	cfg   Config
	log   *zap.Logger
	prov  provisioner
	relay relayer
	boot  *boot.Device // nil in supervision tests with a fake provisioner

	ctx    context.Context // canceled by Shutdown
	cancel context.CancelFunc

	mu       sync.Mutex
	procs    map[tee.Role]*proc
	restarts map[tee.Role]int
	stopping bool
	stopped  chan struct{}
	stopErr  error

	supervisors sync.WaitGroup
	events      chan Event

	own *owner // the device directory's lock and socket record
}

// newDevice starts the TA processes of cfg, in order, with records from
// prov, then runs the boot key relay. On failure every started process is
// stopped.
func newDevice(ctx context.Context, cfg Config, prov provisioner, relay relayer) (*Device, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	own, err := prepareDir(cfg.Dir, cfg.Roles, cfg.ClientGroup)
	if err != nil {
		return nil, err
	}
	return newOwnedDevice(ctx, cfg, own, prov, relay)
}

// newOwnedDevice is newDevice in a directory the launcher already holds
// (prepareDir); the device releases own at Shutdown, or on failure.
func newOwnedDevice(ctx context.Context, cfg Config, own *owner, prov provisioner, relay relayer) (*Device, error) {
	dctx, cancel := context.WithCancel(context.Background())
	d := &Device{
		cfg:      cfg,
		log:      cfg.Log,
		prov:     prov,
		relay:    relay,
		ctx:      dctx,
		cancel:   cancel,
		procs:    make(map[tee.Role]*proc),
		restarts: make(map[tee.Role]int),
		stopped:  make(chan struct{}),
		events:   make(chan Event, 64),
		own:      own,
	}
	if bp, ok := prov.(bootProvisioner); ok {
		d.boot = bp.dev
	}
	abort := func(err error) (*Device, error) {
		sctx, c := context.WithTimeout(context.Background(), cfg.StopGrace+5*time.Second)
		defer c()
		_ = d.Shutdown(sctx)
		return nil, err
	}
	for _, role := range cfg.Roles {
		p, err := d.start(ctx, role)
		if err != nil {
			return abort(err)
		}
		d.mu.Lock()
		d.procs[role] = p
		d.mu.Unlock()
		d.supervisors.Add(1)
		go d.supervise(p)
	}
	if to := d.relayTargets(tee.RoleKeymaster); relay != nil && len(to) > 0 {
		if err := relay(ctx, d, to); err != nil {
			return abort(fmt.Errorf("sim: boot key relay: %w", err))
		}
	}
	d.log.Info("device booted", zap.String("dir", cfg.Dir), zap.Int("tas", len(cfg.Roles)))
	return d, nil
}

// prepareDir checks that every socket path fits sockaddr_un, then takes
// hold of the device directory (openDeviceDir): created 0700 or checked to
// be the launcher user's alone, locked for the device's life, its sock/
// directory created, a crashed launcher's recorded sockets cleared.
func prepareDir(dir string, roles []tee.Role, clientGroup *int) (*owner, error) {
	for _, r := range roles {
		p := devdir.SocketPath(dir, r)
		if r == tee.RoleFingerprint {
			p = SensorSocketPath(dir) // the longer of its two sockets
		}
		if len(p) > maxSocketPath {
			return nil, fmt.Errorf("sim: socket path %q longer than %d bytes; use a shorter device dir", p, maxSocketPath)
		}
	}
	gid := -1
	if clientGroup != nil {
		if *clientGroup < 0 {
			return nil, fmt.Errorf("%w: %d is not a group id", ErrClientGroup, *clientGroup)
		}
		gid = *clientGroup
	}
	return openDeviceDir(dir, gid)
}

// start spawns one TA process with a fresh record and waits for readiness.
func (d *Device) start(ctx context.Context, role tee.Role) (*proc, error) {
	rec, err := d.prov.record(role)
	if err != nil {
		return nil, fmt.Errorf("sim: provision %s: %w", role, err)
	}
	defer clear(rec)
	cmd := d.cfg.Command(role)
	if cmd == nil {
		return nil, fmt.Errorf("sim: Config.Command returned nil for %s", role)
	}
	// A restart runs under the device context, a boot under the caller's;
	// either way Shutdown aborts it.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.ctx, cancel)
	defer stop()
	// A dead predecessor's sockets are removed, if they are still the very
	// files it bound; whatever else is on the paths stays.
	for _, name := range socketNames(role) {
		if err := d.own.release(name); err != nil {
			return nil, err
		}
	}
	p, err := spawn(sctx, cmd, spawnSpec{role: role, record: rec, readyTimeout: d.cfg.ReadyTimeout, stderr: d.cfg.Stderr, profileDir: d.cfg.ProfileDir})
	if err != nil {
		d.log.Error("TA failed to start", zap.String("role", string(role)), zap.Error(err))
		return nil, err
	}
	// Readiness came from our child on its pipe; the sockets must be its
	// own too (SO_PEERCRED), or nothing is routed to them.
	for i, name := range socketNames(role) {
		if i > 0 && !d.own.taken(name) {
			continue // an extra endpoint this TA does not serve
		}
		if err := d.own.claim(name, p.pid); err != nil {
			kctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			_ = p.kill(kctx)
			c()
			d.log.Error("TA socket not its own", zap.String("role", string(role)), zap.Error(err))
			return nil, &StartError{Role: role, PID: p.pid, Status: p.status(), Stderr: p.stderrTail(), Err: err}
		}
	}
	d.log.Info("TA ready", zap.String("role", string(role)), zap.Int("pid", p.pid))
	return p, nil
}

// supervise waits for p to die and, unless the device is shutting down,
// reports it and applies the restart policy.
func (d *Device) supervise(p *proc) {
	defer d.supervisors.Done()
	<-p.done
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return
	}
	if d.procs[p.role] == p {
		delete(d.procs, p.role)
	}
	n := d.restarts[p.role]
	allowed := n < d.cfg.Restart.MaxRestarts
	if allowed {
		d.restarts[p.role] = n + 1
	}
	d.mu.Unlock()

	d.emit(Event{Kind: EventExited, Role: p.role, PID: p.pid, Status: p.status(), Stderr: p.stderrTail()})
	if !allowed {
		d.emit(Event{Kind: EventGaveUp, Role: p.role, PID: p.pid})
		return
	}
	if b := d.cfg.Restart.Backoff; b > 0 && !d.sleep(b) {
		return
	}
	np, err := d.restart(p.role)
	if err != nil {
		if d.ctx.Err() == nil {
			d.emit(Event{Kind: EventRestartFailed, Role: p.role, Err: err})
		}
		return
	}
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		// Shutdown already collected the processes it stops; this one is
		// ours to end.
		kctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		_ = np.kill(kctx)
		c()
		return
	}
	d.procs[p.role] = np
	d.supervisors.Add(1)
	d.mu.Unlock()
	go d.supervise(np)
	if to := d.relayTargets(p.role); d.relay != nil && len(to) > 0 {
		if err := d.relay(d.ctx, d, to); err != nil && d.ctx.Err() == nil {
			d.emit(Event{Kind: EventRelayFailed, Role: p.role, PID: np.pid, Err: err})
		}
	}
	d.emit(Event{Kind: EventRestarted, Role: p.role, PID: np.pid})
}

// Bounds of the retries of a restart whose socket path is taken.
const (
	// MinTakenBackoff is the first pause (or Restart.Backoff if longer).
	MinTakenBackoff = 100 * time.Millisecond
	// MaxTakenBackoff caps the doubling pauses.
	MaxTakenBackoff = 5 * time.Second
)

// restart starts role again. While a start fails and something the
// launcher did not create is on one of role's socket paths, it retries
// with doubling pauses (MinTakenBackoff to MaxTakenBackoff), reporting
// EventSocketTaken once, until the path is free and the start succeeds or
// the device shuts down. These retries are one restart of the policy.
func (d *Device) restart(role tee.Role) (*proc, error) {
	wait := max(d.cfg.Restart.Backoff, MinTakenBackoff)
	announced := false
	for {
		np, err := d.start(d.ctx, role)
		if err == nil || d.ctx.Err() != nil || !d.socketTaken(role) {
			return np, err
		}
		if !announced {
			announced = true
			d.emit(Event{Kind: EventSocketTaken, Role: role, Err: err})
		}
		d.log.Warn("socket path taken; retrying the restart", zap.String("role", string(role)), zap.Duration("in", wait))
		if !d.sleep(wait) {
			return nil, d.ctx.Err()
		}
		wait = min(2*wait, MaxTakenBackoff)
	}
}

// socketTaken reports whether a file is on one of role's socket paths.
func (d *Device) socketTaken(role tee.Role) bool {
	for _, name := range socketNames(role) {
		if d.own.taken(name) {
			return true
		}
	}
	return false
}

// sleep pauses for dt; false if the device shut down meanwhile.
func (d *Device) sleep(dt time.Duration) bool {
	t := time.NewTimer(dt)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// relayTargets returns the TAs that need Keymaster's auth-token key after
// role (re)started: all of the device's recipients on a manifest route
// from Keymaster when role is Keymaster (a restarted Keymaster draws a new
// per-boot key), role itself when it is such a recipient, none otherwise.
func (d *Device) relayTargets(role tee.Role) []tee.Role {
	if !slices.Contains(d.cfg.Roles, tee.RoleKeymaster) {
		return nil
	}
	var out []tee.Role
	for _, r := range d.cfg.Roles {
		u, _ := tee.UUIDOf(r)
		if !tee.RouteAllowed(tee.UUIDKeymaster, u) {
			continue
		}
		if role == tee.RoleKeymaster || role == r {
			out = append(out, r)
		}
	}
	return out
}

// emit logs e and offers it on the events channel without blocking.
func (d *Device) emit(e Event) {
	e.Time = time.Now()
	fields := []zap.Field{zap.String("role", string(e.Role)), zap.String("event", e.Kind.String()), zap.Int("pid", e.PID)}
	if e.Status != "" {
		fields = append(fields, zap.String("status", e.Status))
	}
	if e.Err != nil {
		fields = append(fields, zap.Error(e.Err))
	}
	switch e.Kind {
	case EventRestarted:
		d.log.Info("TA event", fields...)
	default:
		d.log.Error("TA event", fields...)
	}
	select {
	case d.events <- e:
	default:
		d.log.Warn("event channel full; event dropped", zap.String("role", string(e.Role)))
	}
}

// Events delivers what happens to the TA processes after boot (deaths,
// restarts, failures). It is buffered; events are dropped (and logged) if
// nobody reads. It is closed by Shutdown.
func (d *Device) Events() <-chan Event { return d.events }

// Dir is the device directory.
func (d *Device) Dir() string { return d.cfg.Dir }

// Roles are the roles the device was booted with, in boot order.
func (d *Device) Roles() []tee.Role { return append([]tee.Role(nil), d.cfg.Roles...) }

// SocketPath is the Unix socket of role's TA.
func (d *Device) SocketPath(role tee.Role) string { return devdir.SocketPath(d.cfg.Dir, role) }

// PID returns the pid of role's current process, or ErrNotRunning.
func (d *Device) PID(role tee.Role) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return 0, ErrShutdown
	}
	p, ok := d.procs[role]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNotRunning, role)
	}
	return p.pid, nil
}

// Shutdown stops every TA: SIGTERM by pid, then SIGKILL (process and
// group) for any still alive after Config.StopGrace or when ctx ends; it
// waits until every process is reaped, stops the supervisors (no restart
// happens during or after Shutdown), removes the sockets the device's
// processes bound (never another file on their paths), releases the
// device lock and closes Events. It returns an error naming TAs that had to be killed or exited
// uncleanly. Calling it again returns the first result.
func (d *Device) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		<-d.stopped
		return d.stopErr
	}
	d.stopping = true
	d.cancel()
	procs := make([]*proc, 0, len(d.procs))
	for _, p := range d.procs {
		procs = append(procs, p)
	}
	d.procs = map[tee.Role]*proc{}
	d.mu.Unlock()

	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	grace := time.NewTimer(d.cfg.StopGrace)
	defer grace.Stop()
	var errs []error
	for _, p := range procs {
		select {
		case <-p.done:
		case <-grace.C:
			grace.Reset(0) // the grace period is shared: everyone left is killed
		case <-ctx.Done():
		}
		select {
		case <-p.done:
			if st := p.state; st == nil || !st.Success() {
				errs = append(errs, fmt.Errorf("sim: TA %s (pid %d) stopped uncleanly: %s", p.role, p.pid, p.status()))
			}
		default:
			// SIGKILL always ends a process; the bound only guards a
			// kernel that cannot reap it (D state), which we report.
			kctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.kill(kctx); err != nil {
				errs = append(errs, err)
			} else {
				errs = append(errs, fmt.Errorf("sim: TA %s (pid %d) ignored SIGTERM; killed", p.role, p.pid))
			}
			c()
		}
	}
	d.supervisors.Wait()
	// Only the sockets the device's processes bound, still the same files.
	for _, r := range d.cfg.Roles {
		for _, name := range socketNames(r) {
			if err := d.own.release(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := d.own.release(halSocketName); err != nil {
		errs = append(errs, err)
	}
	_ = os.Remove(filepath.Join(d.cfg.Dir, devdir.SockDirName)) // only if empty
	d.own.close()
	close(d.events)
	d.stopErr = errors.Join(errs...)
	close(d.stopped)
	d.log.Info("device shut down", zap.Int("tas", len(procs)), zap.NamedError("result", d.stopErr))
	return d.stopErr
}
