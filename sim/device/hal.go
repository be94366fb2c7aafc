package device

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/tee"
)

// halRole labels the HAL process in start errors and logs. It is not a TA
// role: the HAL has no manifest entry, identity or keys.
const halRole tee.Role = "hal"

// HALReadyFD is the descriptor on which the launcher's HAL child signals
// readiness (fd 4, as a TA does); fd 3 is an empty pipe, since the HAL gets
// no provisioning record.
const HALReadyFD = 4

// HALCommand returns the command that runs the HAL process of device
// directory dir: `exe hal --dir dir --ready-fd 4`, exe normally being the
// fpemu binary itself.
func HALCommand(exe, dir string) *exec.Cmd {
	return exec.Command(exe, "hal", "--dir", dir, "--ready-fd", fmt.Sprint(HALReadyFD))
}

// HAL is a running REE fingerprint HAL process (`fpemu hal`), started by
// StartHAL next to a booted Device.
type HAL struct {
	p        *proc
	own      *owner
	sock     string
	grace    time.Duration
	log      *zap.Logger
	stopped  chan struct{}
	stopErr  error
	stopping chan struct{}
}

// StartHAL starts the HAL process for d with cmd (normally HALCommand) and
// waits until it serves DIR/sock/hal.sock: it then has relayed Keymaster's
// auth-token key to the fingerprint TA. Like a TA it runs in its own
// process group with Pdeathsig=SIGKILL, so it never outlives the launcher,
// and it reports readiness on fd 4 within Config.ReadyTimeout; unlike a TA
// it gets no secret — its fd 3 is an empty pipe. On failure the process is
// reaped and a *StartError carries its status and stderr tail. Stop the
// HAL (HAL.Stop) before d.Shutdown.
func StartHAL(ctx context.Context, d *Device, cmd *exec.Cmd) (*HAL, error) {
	sock := hal.SocketPath(d.Dir())
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("sim: socket path %q longer than %d bytes; use a shorter device dir", sock, maxSocketPath)
	}
	if cmd == nil {
		return nil, errors.New("sim: StartHAL: nil command")
	}
	if err := d.own.release(halSocketName); err != nil { // a dead HAL's, if still the same file
		return nil, err
	}
	p, err := spawn(ctx, cmd, spawnSpec{role: halRole, record: []byte{}, readyTimeout: d.cfg.ReadyTimeout, stderr: d.cfg.Stderr, profileDir: d.cfg.ProfileDir})
	if err != nil {
		d.log.Error("HAL failed to start", zap.Error(err))
		return nil, err
	}
	if err := d.own.claim(halSocketName, p.pid); err != nil {
		kctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.kill(kctx)
		c()
		d.log.Error("HAL socket not its own", zap.Error(err))
		return nil, &StartError{Role: halRole, PID: p.pid, Status: p.status(), Stderr: p.stderrTail(), Err: err}
	}
	d.log.Info("HAL ready", zap.Int("pid", p.pid), zap.String("socket", sock))
	return &HAL{p: p, own: d.own, sock: sock, grace: d.cfg.StopGrace, log: d.log, stopped: make(chan struct{}), stopping: make(chan struct{}, 1)}, nil
}

// PID is the HAL process id.
func (h *HAL) PID() int { return h.p.pid }

// SocketPath is the HAL's north-API socket.
func (h *HAL) SocketPath() string { return h.sock }

// Done is closed when the HAL process has exited (and been reaped).
func (h *HAL) Done() <-chan struct{} { return h.p.done }

// Status describes how the process ended ("" while it runs), and Stderr
// the tail of its log.
func (h *HAL) Status() string { return h.p.status() }

// Stderr returns the tail of the HAL's stderr.
func (h *HAL) Stderr() string { return h.p.stderrTail() }

// Stop ends the HAL by pid: SIGTERM, then SIGKILL (process and group)
// after Config.StopGrace or when ctx ends; it waits until the process is
// reaped and removes the socket it bound (never another file there). It returns an error if the HAL had to be
// killed or exited uncleanly (also when it had died on its own before).
// Calling it again returns the first result.
func (h *HAL) Stop(ctx context.Context) error {
	select {
	case h.stopping <- struct{}{}:
	default:
		<-h.stopped
		return h.stopErr
	}
	defer close(h.stopped)
	p := h.p
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(h.grace)
	defer t.Stop()
	var errs []error
	select {
	case <-p.done:
		if st := p.state; st == nil || !st.Success() {
			errs = append(errs, fmt.Errorf("sim: HAL (pid %d) stopped uncleanly: %s", p.pid, p.status()))
		}
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case <-p.done:
	default:
		kctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.kill(kctx); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, fmt.Errorf("sim: HAL (pid %d) ignored SIGTERM; killed", p.pid))
		}
		c()
	}
	if err := h.own.release(halSocketName); err != nil { // only the socket it bound
		errs = append(errs, err)
	}
	h.stopErr = errors.Join(errs...)
	h.log.Info("HAL stopped", zap.Int("pid", p.pid), zap.NamedError("result", h.stopErr))
	return h.stopErr
}
