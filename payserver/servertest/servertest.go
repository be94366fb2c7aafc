// Package servertest runs `fpemu server` as its own process for the tests
// that pay across processes (payserver's fault and scale-out tests,
// sim/device's payment test): it starts the built binary on loopback
// ports, reads its readiness line for the channel and merchant API
// addresses, and ends it by pid when the test ends — SIGTERM with exit 0
// required, unless the test SIGKILLed it on purpose.
//
// It imports only the standard library, testify, internal/testkit and
// payserver/serverproc (standard library only), so any package's tests can
// use it. It is for tests only.
package servertest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/serverproc"
)

// ReadyTimeout bounds how long Start waits for the readiness line.
const ReadyTimeout = 30 * time.Second

// StopTimeout bounds how long Stop and Kill wait for the process to exit.
const StopTimeout = 15 * time.Second

// Server is a started `fpemu server` process.
type Server struct {
	// Channel and HTTP are the channel and merchant API addresses of its
	// readiness line ("ready channel=… http=…").
	Channel, HTTP string

	proc  *testkit.Proc
	ended bool // Kill or Stop ended it: nothing is left to check
}

// Start runs exe (the fpemu binary, see testkit.BuildFpemu) as
// `fpemu server` on loopback ports with args added, and waits for it to be
// ready. When the test ends the server is stopped (Stop).
func Start(t *testing.T, exe string, args ...string) *Server {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"server", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "info"}, args...)...)
	// Dies with the test binary even when a timeout panic skips the
	// cleanups. (Pdeathsig follows the starting thread; Go does not end
	// its threads while the program runs.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &Server{proc: testkit.Start(t, cmd)}
	t.Cleanup(func() { s.Stop(t) })
	var err error
	s.Channel, s.HTTP, err = serverproc.ParseReady(s.proc.Line(t, ReadyTimeout))
	require.NoError(t, err, "stderr:\n%s", s.proc.Stderr())
	return s
}

// PID is the server's process id.
func (s *Server) PID() int { return s.proc.PID() }

// Stderr is what the server logged so far.
func (s *Server) Stderr() string { return s.proc.Stderr() }

// Kill sends SIGKILL (kill -9) to the server, by pid, and waits for it to
// exit. It is idempotent.
func (s *Server) Kill(t *testing.T) {
	t.Helper()
	s.ended = true
	select {
	case <-s.proc.Exited():
		return
	default:
	}
	_ = syscall.Kill(s.PID(), syscall.SIGKILL)
	select {
	case <-s.proc.Exited():
	case <-time.After(StopTimeout):
		t.Errorf("fpemu server %d did not die on SIGKILL", s.PID())
	}
}

// Stop ends the server with SIGTERM, by pid, and requires exit 0; a
// server that exited by itself must have exited 0 too. After Kill it does
// nothing. It is idempotent.
func (s *Server) Stop(t *testing.T) {
	t.Helper()
	if s.ended {
		return
	}
	select {
	case <-s.proc.Exited():
	default:
		_ = syscall.Kill(s.PID(), syscall.SIGTERM)
	}
	select {
	case <-s.proc.Exited():
		// Exited is closed: Wait returns its result at once.
		assert.NoError(t, s.proc.Wait(t, time.Second), "fpemu server exits 0 on SIGTERM; stderr:\n%s", s.Stderr())
	case <-time.After(StopTimeout):
		s.Kill(t)
		t.Errorf("fpemu server %d did not stop on SIGTERM", s.PID())
	}
	s.ended = true
}
