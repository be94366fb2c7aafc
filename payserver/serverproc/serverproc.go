// Package serverproc runs `fpemu server` as a child process for the tools
// that pay across processes (sim/demo, sim/attack's server rows): it
// starts the command, reads its readiness line for the channel and
// merchant API addresses, keeps a bounded tail of its stderr, and ends it
// by pid — SIGTERM, then SIGKILL after a grace period. It also owns the
// readiness line's format ("ready channel=HOST:PORT http=HOST:PORT", the
// first line `fpemu server` prints on stdout, README.md).
//
// What the child can make us hold is bounded: the readiness line is read
// from at most MaxReadyLine bytes of stdout (the rest is discarded), and
// stderr is kept as its last StderrTail bytes (internal/tail). Standard
// library only, besides internal/tail.
package serverproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/fpemu/fpemu/internal/tail"
)

// MaxReadyLine bounds how much of the child's stdout Start reads for the
// readiness line.
const MaxReadyLine = 4 << 10

// DefaultStderrTail is how much of the child's stderr a Proc keeps when
// Options.StderrTail is 0.
const DefaultStderrTail = 4 << 10

// readyFormat is the readiness line `fpemu server` prints on stdout once
// both listeners are open.
const readyFormat = "ready channel=%s http=%s"

// ErrNotReady: the child exited, or printed something else, before its
// readiness line.
var ErrNotReady = errors.New("serverproc: not ready")

// ReadyLine is the readiness line (without the newline) of a server whose
// channel and merchant API listen on channel and http.
func ReadyLine(channel, http string) string { return fmt.Sprintf(readyFormat, channel, http) }

// maxReadyQuote bounds how much of a line that is not a readiness line an
// error quotes (the line is the child's output, of any length).
const maxReadyQuote = 120

// ParseReady returns the addresses of a readiness line (ReadyLine):
// exactly "ready channel=HOST:PORT http=HOST:PORT", surrounding white space
// ignored. Anything else — other or extra words, an address that is not
// host:port — is ErrNotReady; nothing is returned with an error.
func ParseReady(line string) (channel, http string, err error) {
	f := strings.Fields(line)
	ok := len(f) == 3 && f[0] == "ready"
	if ok {
		var okC, okH bool
		channel, okC = strings.CutPrefix(f[1], "channel=")
		http, okH = strings.CutPrefix(f[2], "http=")
		ok = okC && okH && hostPort(channel) && hostPort(http)
	}
	if !ok {
		q := line
		if len(q) > maxReadyQuote {
			q = q[:maxReadyQuote] + "…"
		}
		return "", "", fmt.Errorf("%w: no ready line: %q", ErrNotReady, q)
	}
	return channel, http, nil
}

// hostPort reports whether a is a host:port address with a port.
func hostPort(a string) bool {
	_, port, err := net.SplitHostPort(a)
	return err == nil && port != ""
}

// Options tune Start.
type Options struct {
	// Logs, if set, also receives everything the child writes to stderr.
	Logs io.Writer
	// StderrTail is how many of the last stderr bytes the Proc keeps for
	// its errors. Default DefaultStderrTail.
	StderrTail int
}

// Proc is a started `fpemu server` process.
type Proc struct {
	// Channel and HTTP are the addresses of the readiness line.
	Channel, HTTP string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when Wait returned
	waitErr error
	stderr  *tail.Buffer
}

// Start starts cmd (an `fpemu server …` command; its Stdout and Stderr
// must be unset) and waits until it prints its readiness line, ctx is
// done, or it exits. The Proc is returned whenever the process started,
// even with an error, so that the caller stops it (Stop).
func Start(ctx context.Context, cmd *exec.Cmd, o Options) (*Proc, error) {
	if o.StderrTail <= 0 {
		o.StderrTail = DefaultStderrTail
	}
	// An os.Pipe rather than cmd.StdoutPipe: Wait closes the latter as
	// soon as the process exits, which can lose a readiness line printed
	// just before an exit; this pipe is read to its end whatever Wait does.
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{}), stderr: &tail.Buffer{Max: o.StderrTail, Copy: o.Logs}}
	cmd.Stdout, cmd.Stderr = w, p.stderr
	err = cmd.Start()
	_ = w.Close() // the child holds its own copy
	if err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start fpemu server: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		defer out.Close()
		br := bufio.NewReader(io.LimitReader(out, MaxReadyLine))
		l, _ := br.ReadString('\n')
		lines <- l
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case l := <-lines:
		if p.Channel, p.HTTP, err = ParseReady(l); err != nil {
			<-p.exited
			return p, fmt.Errorf("fpemu server (pid %d): %w; exit: %v; stderr:\n%s", p.PID(), err, p.waitErr, p.stderr)
		}
		return p, nil
	case <-ctx.Done():
		return p, fmt.Errorf("%w: fpemu server (pid %d): %w", ErrNotReady, p.PID(), ctx.Err())
	}
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stderr is the tail of what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Stop ends the process by pid: SIGTERM (the server shuts down
// gracefully), SIGKILL after grace. It returns an error for a non-zero
// exit (with the stderr tail) and for a process that had to be killed.
// It may be called again; a process that already exited is not signalled.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.exitErr()
	default:
	}
	_ = syscall.Kill(p.PID(), syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.exitErr()
	case <-t.C:
		_ = syscall.Kill(p.PID(), syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("fpemu server (pid %d) did not stop within %v of SIGTERM: killed", p.PID(), grace)
	}
}

func (p *Proc) exitErr() error {
	if p.waitErr != nil {
		return fmt.Errorf("fpemu server (pid %d): %v; stderr tail:\n%s", p.PID(), p.waitErr, p.stderr)
	}
	return nil
}
