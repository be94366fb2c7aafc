package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// HALName names the HAL in Stack.PIDs and Sockets, beside the TA roles.
const HALName = "hal"

// ErrStackClosed is returned by Stack methods called after Close.
var ErrStackClosed = errors.New("sim: stack is closed")

// StackConfig configures Up: the launcher's Config, and the HAL started
// next to the TAs.
type StackConfig struct {
	Config
	// TACommand, if set, returns Config.Command for the device directory
	// (normally TACommand(exe, dir)): what a stack in a TempDir needs,
	// since its directory is known only inside Up. It replaces
	// Config.Command.
	TACommand func(dir string) func(tee.Role) *exec.Cmd
	// HALCommand, if set, returns the HAL process's command for the device
	// directory (normally HALCommand(exe, dir)); Up starts it once the TAs
	// are up. Nil: a device without a HAL.
	HALCommand func(dir string) *exec.Cmd
	// TempDir, if Dir is empty, is the name pattern of a fresh temporary
	// directory (os.MkdirTemp) Up boots in and Close removes. Keep it
	// short: the sockets must fit sockaddr_un.
	TempDir string
	// Boot, if set, replaces Boot (a test hook for a deliberately careless
	// launcher). Nil in production.
	Boot func(ctx context.Context, cfg Config) (*Device, error)
}

// Stack is one running emulated device as every tool uses it — `fpemu
// device up`, demo, conform and attack: the TA processes under the
// launcher (the embedded *Device: sessions, sockets, pids, events) and the
// REE fingerprint HAL process beside them. Close tears it all down in
// the one safe order: the sessions and sensor endpoints opened through
// the Stack, then the HAL, then every TA by pid (docs/protocol.md §7).
// Its methods are safe for concurrent use.
type Stack struct {
	*Device

	ownDir bool // Dir was created by Up and is removed by Close

	mu      sync.Mutex
	hal     *HAL
	closers []func()
	closed  bool
	errs    []error // Close's result, kept for repeated calls
}

// Up boots the TAs of cfg (secure boot, the auth-token key relay) and, if
// cfg.HALCommand is set, starts the HAL. On failure everything started is
// stopped, a temporary directory removed, and the error returned.
func Up(ctx context.Context, cfg StackConfig) (*Stack, error) {
	s := &Stack{}
	if cfg.Dir == "" {
		if cfg.TempDir == "" {
			return nil, errors.New("sim: StackConfig needs Dir or TempDir")
		}
		dir, err := os.MkdirTemp("", cfg.TempDir)
		if err != nil {
			return nil, fmt.Errorf("sim: device dir: %w", err)
		}
		cfg.Dir, s.ownDir = dir, true
	}
	if cfg.TACommand != nil {
		cfg.Command = cfg.TACommand(cfg.Dir)
	}
	boot := cfg.Boot
	if boot == nil {
		boot = Boot
	}
	d, err := boot(ctx, cfg.Config)
	if err != nil {
		if s.ownDir {
			_ = os.RemoveAll(cfg.Dir)
		}
		return nil, err
	}
	s.Device = d
	if cfg.HALCommand != nil {
		if _, err := s.StartHAL(ctx, cfg.HALCommand(cfg.Dir)); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), cfg.StopGrace+stackCloseSlack)
			defer cancel()
			return nil, errors.Join(err, s.Close(cctx))
		}
	}
	return s, nil
}

// StartHAL starts the HAL process with cmd (normally HALCommand) on a
// stack that runs none, as the package-level StartHAL does; Close stops
// it. It is for callers that time the HAL's start apart from the TAs'
// (Up starts it when StackConfig.HALCommand is set).
func (s *Stack) StartHAL(ctx context.Context, cmd *exec.Cmd) (*HAL, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	if s.hal != nil {
		return nil, errors.New("sim: the stack already runs a HAL")
	}
	h, err := StartHAL(ctx, s.Device, cmd)
	if err != nil {
		return nil, fmt.Errorf("start HAL: %w", err)
	}
	s.hal = h
	return h, nil
}

// stackCloseSlack is added to the launcher's stop grace when Up cleans up
// after a failed HAL start.
const stackCloseSlack = 5 * time.Second

// HAL returns the running HAL process, or nil (none started, or stopped
// with StopHAL).
func (s *Stack) HAL() *HAL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hal
}

// StopHAL stops the HAL process, if one runs, and leaves the TAs up: from
// then on the caller is the HAL (an attacker, a vendor's own HAL).
func (s *Stack) StopHAL(ctx context.Context) error {
	s.mu.Lock()
	h := s.hal
	s.hal = nil
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.Stop(ctx)
}

// Session opens a CA session on role's TA (opts choose the GP login, e.g.
// rpc.AsUser for an app) that Close closes.
func (s *Stack) Session(ctx context.Context, role tee.Role, opts ...rpc.SessionOption) (*Session, error) {
	sess, err := s.OpenSession(ctx, role, opts...)
	if err != nil {
		return nil, fmt.Errorf("session on %s: %w", role, err)
	}
	if err := s.OnClose(func() { _ = sess.Close() }); err != nil {
		_ = sess.Close()
		return nil, err
	}
	return sess, nil
}

// Sensor opens the fingerprint TA's sensor-control endpoint (the test
// bench's finger, not an REE capability) that Close closes.
func (s *Stack) Sensor(ctx context.Context) (*Sensor, error) {
	sen, err := s.OpenSensor(ctx)
	if err != nil {
		return nil, fmt.Errorf("sensor control: %w", err)
	}
	if err := s.OnClose(func() { _ = sen.Close() }); err != nil {
		_ = sen.Close()
		return nil, err
	}
	return sen, nil
}

// OnClose registers f to run at Close, before the HAL and the TAs stop
// (last registered, first run): for the clients a caller opened itself.
func (s *Stack) OnClose(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStackClosed
	}
	s.closers = append(s.closers, f)
	return nil
}

// Sockets are the endpoints of a Stack.
type Sockets struct {
	// Dir is the device directory.
	Dir string
	// HAL is the HAL's north API socket, "" without a HAL.
	HAL string
	// Sensor is the fingerprint TA's sensor-control socket.
	Sensor string
	// TAs are the CA→TA sockets, by role.
	TAs map[tee.Role]string
}

// Sockets returns the stack's endpoints.
func (s *Stack) Sockets() Sockets {
	out := Sockets{Dir: s.Dir(), Sensor: s.SensorSocketPath(), TAs: map[tee.Role]string{}}
	for _, r := range s.Roles() {
		out.TAs[r] = s.SocketPath(r)
	}
	if h := s.HAL(); h != nil {
		out.HAL = h.SocketPath()
	}
	return out
}

// PIDs returns the process ids of the stack: its running TAs by role and,
// under HALName, the HAL.
func (s *Stack) PIDs() map[string]int {
	out := map[string]int{}
	for _, r := range s.Roles() {
		if pid, err := s.PID(r); err == nil {
			out[string(r)] = pid
		}
	}
	if h := s.HAL(); h != nil {
		out[HALName] = h.PID()
	}
	return out
}

// Close closes what was opened through the stack, stops the HAL, then
// every TA by pid (SIGTERM, SIGKILL after Config.StopGrace), removes the
// sockets and, if Up made it, the device directory. It reports processes
// that had to be killed or exited uncleanly. Later calls return the same.
func (s *Stack) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		defer s.mu.Unlock()
		return errors.Join(s.errs...)
	}
	s.closed = true
	closers, h := s.closers, s.hal
	s.closers, s.hal = nil, nil
	s.mu.Unlock()

	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	var errs []error
	if h != nil {
		errs = append(errs, h.Stop(ctx))
	}
	if s.Device != nil {
		errs = append(errs, s.Shutdown(ctx))
	}
	if s.ownDir && s.Device != nil {
		if err := os.RemoveAll(s.Dir()); err != nil {
			errs = append(errs, fmt.Errorf("sim: remove device dir: %w", err))
		}
	}
	s.mu.Lock()
	s.errs = errs
	s.mu.Unlock()
	return errors.Join(errs...)
}
