package testkit

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReapTimeout bounds how long the Cleanup of Start waits for a killed
// child to be reaped before it reports an error.
const ReapTimeout = 10 * time.Second

// exitGrace is how long Line still waits for a line after the child has
// exited: what it wrote may still be in the pipe.
const exitGrace = time.Second

// Proc is a child process a test started with Start. It is killed by pid
// (if it still runs) and reaped when the test ends, so no test leaves a
// process behind or hangs on one that died.
type Proc struct {
	// Cmd is the started command; Cmd.Process.Pid is the child's pid.
	Cmd *exec.Cmd

	stderr *Buffer // Cmd.Stderr when Start set it
	lines  *lineQueue
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// Start starts cmd. Unless the caller set them, its stdout is a pipe
// whose lines Line returns and its stderr is kept for failure messages
// (Stderr). When the test ends, the child is killed by pid if it still
// runs and reaped; a child not reaped within ReapTimeout is a test error.
func Start(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	if cmd.Stderr == nil {
		p.stderr = &Buffer{}
		cmd.Stderr = p.stderr
	}
	var outW *os.File
	if cmd.Stdout == nil {
		outR, w, err := os.Pipe()
		if err != nil {
			tb.Fatalf("testkit: stdout pipe: %v", err)
		}
		outW, cmd.Stdout = w, w
		p.lines = newLineQueue(outR)
	}
	err := cmd.Start()
	if outW != nil {
		_ = outW.Close() // the child holds the write end now
	}
	if err != nil {
		tb.Fatalf("testkit: start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill() // by pid; harmless once it has exited
		select {
		case <-p.exited:
		case <-time.After(ReapTimeout):
			tb.Errorf("testkit: child %d not reaped", cmd.Process.Pid)
		}
	})
	return p
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited is closed once the child has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stderr is what the child wrote to stderr so far, when Start captured
// it; otherwise "".
func (p *Proc) Stderr() string {
	if p.stderr == nil {
		return ""
	}
	return p.stderr.String()
}

// Signal sends sig to the child by pid.
func (p *Proc) Signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("testkit: signal %v to child %d: %v", sig, p.PID(), err)
	}
}

// Wait waits up to d for the child to exit and returns what cmd.Wait
// returned. A child still running after d fails the test.
func (p *Proc) Wait(tb testing.TB, d time.Duration) error {
	tb.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		tb.Fatalf("testkit: child %d did not exit within %v; stderr:\n%s", p.PID(), d, p.Stderr())
		return nil
	}
}

// ExitCode waits up to d for the child to exit and returns its exit
// code. A child killed by a signal, or one that cannot be waited for,
// fails the test.
func (p *Proc) ExitCode(tb testing.TB, d time.Duration) int {
	tb.Helper()
	err := p.Wait(tb, d)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		tb.Fatalf("testkit: child %d: %v; stderr:\n%s", p.PID(), err, p.Stderr())
		return -1
	}
}

// Line returns the next line the child writes to stdout, without its
// newline. It fails the test, naming the child's stderr, when the child
// closes stdout or exits without writing one, or when none arrives
// within d. Start must have made the stdout pipe (cmd.Stdout unset).
func (p *Proc) Line(tb testing.TB, d time.Duration) string {
	tb.Helper()
	if p.lines == nil {
		tb.Fatalf("testkit: child %d: stdout is not Start's pipe", p.PID())
		return ""
	}
	timeout := time.After(d)
	var grace <-chan time.Time
	exited := p.exited
	for {
		line, ok, more, changed := p.lines.next()
		if ok {
			return line
		}
		if !more {
			tb.Fatalf("testkit: child %d closed stdout without a line; stderr:\n%s", p.PID(), p.Stderr())
			return ""
		}
		select {
		case <-changed:
		case <-exited:
			exited, grace = nil, time.After(exitGrace)
		case <-grace:
			tb.Fatalf("testkit: child %d exited before writing a line (%v); stderr:\n%s", p.PID(), p.err, p.Stderr())
			return ""
		case <-timeout:
			tb.Fatalf("testkit: no line from child %d within %v; stderr:\n%s", p.PID(), d, p.Stderr())
			return ""
		}
	}
}

// lineQueue reads lines from r as they come, so that a child never blocks
// on a full stdout pipe the test is not reading.
type lineQueue struct {
	mu     sync.Mutex
	lines  []string
	eof    bool
	notify chan struct{} // closed and replaced at each change
}

func newLineQueue(r io.ReadCloser) *lineQueue {
	q := &lineQueue{notify: make(chan struct{})}
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			q.update(func() { q.lines = append(q.lines, sc.Text()) })
		}
		q.update(func() { q.eof = true })
	}()
	return q
}

func (q *lineQueue) update(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f()
	close(q.notify)
	q.notify = make(chan struct{})
}

// next pops the oldest unread line (ok); more is false once no line can
// come any more, and changed is closed at the queue's next change.
func (q *lineQueue) next() (line string, ok, more bool, changed <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.lines) > 0 {
		line, q.lines = q.lines[0], q.lines[1:]
		return line, true, true, q.notify
	}
	return "", false, !q.eof, q.notify
}

// NotRunning reports a test error for each process of pids (name → pid)
// that still exists: a stopped device leaves none, and every child was
// reaped (a zombie would still exist).
func NotRunning(tb testing.TB, pids map[string]int) {
	tb.Helper()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			tb.Errorf("%s (pid %d) still exists", name, pid)
		}
	}
}
