package device

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/fpemu/fpemu/internal/profile"
	"github.com/fpemu/fpemu/internal/tail"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// Errors a TA start can fail with. They are wrapped in a *StartError that
// carries the child's exit status and the tail of its stderr.
var (
	// ErrExitedBeforeReady: the TA process exited (or closed its readiness
	// descriptor) before it signalled readiness.
	ErrExitedBeforeReady = errors.New("sim: TA exited before it was ready")
	// ErrReadyTimeout: the TA did not signal readiness in time; it was
	// killed.
	ErrReadyTimeout = errors.New("sim: TA did not become ready in time")
	// ErrBadReadiness: the TA wrote something other than the readiness
	// line on its readiness descriptor; it was killed.
	ErrBadReadiness = errors.New("sim: TA wrote a malformed readiness line")
)

// StartError reports a TA process that failed to come up.
type StartError struct {
	Role   tee.Role
	PID    int    // 0 if the process never started
	Status string // "exit status 3", "signal: killed", … ("" if unknown)
	Stderr string // the last bytes the process wrote on stderr
	Err    error  // one of the Err* sentinels above, or the exec error
}

func (e *StartError) Error() string {
	s := fmt.Sprintf("sim: start TA %s", e.Role)
	if e.PID != 0 {
		s += fmt.Sprintf(" (pid %d)", e.PID)
	}
	s += ": " + e.Err.Error()
	if e.Status != "" {
		s += "; " + e.Status
	}
	if e.Stderr != "" {
		s += "; stderr tail:\n" + e.Stderr
	}
	return s
}

func (e *StartError) Unwrap() error { return e.Err }

// stderrTailBytes bounds how much of a child's stderr is kept for error
// reports.
const stderrTailBytes = 4096

// proc is one running TA process, owned by the launcher.
type proc struct {
	role   tee.Role
	cmd    *exec.Cmd
	pid    int
	stderr *tail.Buffer
	done   chan struct{} // closed once the process has been reaped
	state  *os.ProcessState
}

// stderrTail is the end of what the process wrote to stderr, trimmed.
func (p *proc) stderrTail() string { return strings.TrimSpace(p.stderr.String()) }

// status describes how the process ended ("" while it runs).
func (p *proc) status() string {
	select {
	case <-p.done:
	default:
		return ""
	}
	if p.state == nil {
		return "wait failed"
	}
	return p.state.String()
}

// signal sends sig to the process by pid and, for SIGKILL, to its whole
// process group (it is the group leader; see spawn), so that nothing it
// might have started outlives it. A process already reaped is never
// signalled: its pid may have been reused.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	// os.Process.Signal goes through a pidfd on Linux, so it cannot hit a
	// reused pid even if the process is reaped concurrently.
	_ = p.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// kill SIGKILLs the process and waits until it is reaped or ctx ends.
func (p *proc) kill(ctx context.Context) error {
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sim: TA %s (pid %d) not reaped after SIGKILL: %w", p.role, p.pid, ctx.Err())
	}
}

// spawnSpec is what spawn needs besides the command.
type spawnSpec struct {
	role         tee.Role
	record       []byte        // the provisioning record for fd 3
	readyTimeout time.Duration // how long the child has to signal readiness
	stderr       io.Writer     // optional: also receives the child's stderr
	profileDir   string        // optional: profile.DirEnv for the child (Config.ProfileDir)
}

// spawn starts cmd as the TA process of spec.role, hands it its
// provisioning record on fd 3 and a readiness pipe on fd 4, and waits until
// the child writes the readiness line, exits, times out, or ctx ends. On any
// failure the child is killed and reaped before spawn returns: spawn never
// leaves a process behind and never hangs on a dead child.
//
// The child is its own process group leader with Pdeathsig=SIGKILL, so it
// dies with the launcher. (Pdeathsig is tied to the launcher thread that
// forked it; the Go runtime does not retire idle threads, so in practice
// that is the launcher's lifetime.)
func spawn(ctx context.Context, cmd *exec.Cmd, spec spawnSpec) (*proc, error) {
	serr := func(pid int, status, stderr string, err error) error {
		return &StartError{Role: spec.role, PID: pid, Status: status, Stderr: stderr, Err: err}
	}
	if cmd.Process != nil || len(cmd.ExtraFiles) != 0 {
		return nil, serr(0, "", "", errors.New("command already started or has extra files"))
	}

	recR, recW, err := os.Pipe()
	if err != nil {
		return nil, serr(0, "", "", err)
	}
	defer recR.Close()
	rdyR, rdyW, err := os.Pipe()
	if err != nil {
		recW.Close()
		return nil, serr(0, "", "", err)
	}
	defer rdyR.Close()
	defer rdyW.Close() // parent's copy; closed early below

	// The record is far smaller than a pipe buffer, so it is written before
	// the child exists; the deadline only guards against a misconfigured
	// oversized record blocking the launcher.
	_ = recW.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = recW.Write(spec.record)
	recW.Close()
	if err != nil {
		return nil, serr(0, "", "", fmt.Errorf("write provisioning record: %w", err))
	}

	tl := tail.New(stderrTailBytes)
	if cmd.Stderr == nil {
		if spec.stderr != nil {
			cmd.Stderr = io.MultiWriter(tl, spec.stderr)
		} else {
			cmd.Stderr = tl
		}
	}
	if spec.profileDir != "" {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, profile.DirEnv+"="+spec.profileDir)
	}
	cmd.ExtraFiles = []*os.File{recR, rdyW} // fd 3, fd 4 in the child
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, serr(0, "", "", err)
	}
	// Only the child holds the write end of the readiness pipe now, so its
	// exit is an EOF here.
	recR.Close()
	rdyW.Close()

	p := &proc{role: spec.role, cmd: cmd, pid: cmd.Process.Pid, stderr: tl, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()

	fail := func(cause error) (*proc, error) {
		// Give an exiting child a moment to be reaped so the report has its
		// status; otherwise kill it.
		grace, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if !errors.Is(cause, ErrExitedBeforeReady) {
			p.signal(syscall.SIGKILL)
		}
		select {
		case <-p.done:
		case <-grace.Done():
			_ = p.kill(context.Background()) // SIGKILL always reaps
		}
		return nil, serr(p.pid, p.status(), tl.String(), cause)
	}

	deadline := time.Now().Add(spec.readyTimeout)
	_ = rdyR.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = rdyR.SetReadDeadline(time.Now()) })
	defer stop()

	line, err := bufio.NewReaderSize(io.LimitReader(rdyR, 64), 64).ReadString('\n')
	switch {
	case err == nil && line == taproc.ReadyLine+"\n":
		return p, nil
	case err == nil:
		return fail(ErrBadReadiness)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(ErrReadyTimeout)
	case errors.Is(err, io.EOF) && line != "":
		return fail(ErrBadReadiness)
	default:
		return fail(ErrExitedBeforeReady)
	}
}
