//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal 100 columns wide and returns its
// master and slave ends, closed when the test ends.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}))
	return m, s
}

// drain copies everything the master end reads until the slave end is
// closed everywhere; wait returns it.
func drain(master *os.File) (wait func() string) {
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, master) // ends with EIO once no slave is open
	}()
	return func() string {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = master.Close()
			<-done
		}
		return buf.String()
	}
}

// On a terminal the progress is a bar (progressbar's ANSI line clears and
// redraws), not lines.
func TestProgressBarOnTerminal(t *testing.T) {
	master, slave := openPty(t)
	require.True(t, isTerminal(slave))
	wait := drain(master)

	p := newProgress(slave, true, "fpemu test")
	require.NotNil(t, p.bar, "a terminal gets the bar")
	p.Stage("counting", 10, "rows")
	for i := 1; i <= 10; i++ {
		p.Set(i)
		if i == 5 {
			p.Above(func() { fmt.Fprintln(slave, "a result line") })
		}
		time.Sleep(30 * time.Millisecond)
	}
	p.Finish()
	require.NoError(t, slave.Close())
	out := wait()
	assert.Contains(t, out, "fpemu test: counting")
	assert.Contains(t, out, "\x1b[2K", "the bar clears its line to redraw")
	assert.Regexp(t, `\d+%`, out)
	assert.Contains(t, out, "a result line")
	assert.NotContains(t, out, "elapsed, done", "no progress lines on a terminal")
}

// End to end: `fpemu eval matcher` with stderr on a terminal draws the
// bar there; stdout (a pipe) gets the summary only.
func TestEvalMatcherBarOnTerminal(t *testing.T) {
	master, slave := openPty(t)
	wait := drain(master)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := fpemuCmd(ctx, "eval", "matcher", "--fingers", "120", "--out", "")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	require.NoError(t, cmd.Run())
	require.NoError(t, slave.Close())
	tty := wait()
	assert.Contains(t, tty, "fpemu eval matcher: enrolling")
	assert.Contains(t, tty, "fpemu eval matcher: comparing")
	assert.Contains(t, tty, "\x1b[2K")
	assert.NotContains(t, tty, "elapsed, done")
	assert.Contains(t, stdout.String(), "FAR ")
	assert.NotContains(t, stdout.String(), "fpemu eval matcher")
	assert.False(t, strings.ContainsRune(stdout.String(), '\r'))
}
