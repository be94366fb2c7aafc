package taproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/tee/boot"
)

// The descriptors the launcher (package sim/device) hands every TA process. They
// are the only channel secrets travel on: never argv, env or a file
// (docs/architecture.md rule 2).
const (
	// RecordFD is the read end of a pipe carrying the TA's provisioning
	// record (tee/boot), followed by EOF. The TA reads it once and closes
	// it.
	RecordFD = boot.InheritedFD
	// ReadyFD is the write end of the readiness pipe. The TA writes
	// ReadyLine and a newline once its socket accepts connections, then
	// closes it. An EOF before that tells the launcher the TA died.
	ReadyFD = 4
	// ReadyLine is the readiness message.
	ReadyLine = "READY"
)

// MaxRecordSize bounds the provisioning record a TA accepts on RecordFD.
const MaxRecordSize = 64 << 10

// recordReadTimeout bounds the wait for the record: the launcher writes it
// before it starts the process, so it is either there at once or never.
const recordReadTimeout = 10 * time.Second

// ErrNotLaunched means the process was not started by the fpemu launcher:
// RecordFD or ReadyFD is not an inherited pipe. It is what running
// `fpemu ta keymaster` by hand gets.
var ErrNotLaunched = errors.New("taproc: not started by the fpemu launcher " +
	"(a TA reads its provisioning record from an inherited pipe on fd 3 and signals readiness on fd 4; " +
	"boot a device with the launcher instead of running a TA by hand)")

// ErrRecordTooLarge means more than MaxRecordSize bytes arrived on RecordFD.
var ErrRecordTooLarge = errors.New("taproc: provisioning record too large")

// inheritedPipe returns fd as a pollable *os.File if it is an open pipe,
// and ErrNotLaunched otherwise (closed fd, a terminal, a regular file…), so
// a TA run by hand fails at once instead of blocking on a read.
func inheritedPipe(fd int, name string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%w: fd %d: %v", ErrNotLaunched, fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("%w: fd %d is not a pipe", ErrNotLaunched, fd)
	}
	// Non-blocking so that os.NewFile returns a File whose deadlines work.
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("taproc: fd %d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Inherited is the pair of descriptors a launched TA process starts with.
type Inherited struct {
	record *os.File
	ready  *os.File
}

// Inherit checks that RecordFD and ReadyFD are inherited pipes and takes
// ownership of them. It fails with ErrNotLaunched otherwise. Call it first
// thing, before anything else could open a file on fd 3 or 4.
func Inherit() (*Inherited, error) {
	rec, err := inheritedPipe(RecordFD, "provisioning-record")
	if err != nil {
		return nil, err
	}
	rdy, err := inheritedPipe(ReadyFD, "readiness")
	if err != nil {
		rec.Close()
		return nil, err
	}
	return &Inherited{record: rec, ready: rdy}, nil
}

// ReadRecord reads the whole provisioning record from RecordFD and closes
// the descriptor. The caller owns the returned bytes and should wipe them
// once decoded.
func (in *Inherited) ReadRecord() ([]byte, error) {
	if in.record == nil {
		return nil, errors.New("taproc: provisioning record already read")
	}
	f := in.record
	in.record = nil
	defer f.Close()
	_ = f.SetReadDeadline(time.Now().Add(recordReadTimeout))
	b, err := io.ReadAll(io.LimitReader(f, MaxRecordSize+1))
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("taproc: read provisioning record: %w", err)
	}
	if len(b) > MaxRecordSize {
		clear(b)
		return nil, ErrRecordTooLarge
	}
	return b, nil
}

// SignalReady writes ReadyLine on ReadyFD and closes it. Call it once the
// TA's socket is listening.
func (in *Inherited) SignalReady() error {
	if in.ready == nil {
		return errors.New("taproc: readiness already signalled")
	}
	f := in.ready
	in.ready = nil
	defer f.Close()
	_ = f.SetWriteDeadline(time.Now().Add(recordReadTimeout))
	if _, err := io.WriteString(f, ReadyLine+"\n"); err != nil {
		return fmt.Errorf("taproc: signal readiness: %w", err)
	}
	return nil
}

// Close releases whichever descriptors are still held. Closing the
// readiness pipe without signalling tells the launcher the start failed.
func (in *Inherited) Close() {
	if in.record != nil {
		in.record.Close()
		in.record = nil
	}
	if in.ready != nil {
		in.ready.Close()
		in.ready = nil
	}
}
