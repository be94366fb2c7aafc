package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// InheritedFD is the descriptor on which a TA process finds its record:
// the first of exec.Cmd.ExtraFiles.
const InheritedFD = 3

// WriteTo writes the encoded record to w (io.WriterTo). The launcher
// writes it on a pipe and closes the write end; the record is delimited by
// EOF.
func (r Record) WriteTo(w io.Writer) (int64, error) {
	b, err := r.Marshal()
	if err != nil {
		return 0, err
	}
	defer clear(b)
	n, err := w.Write(b)
	if err != nil {
		return int64(n), fmt.Errorf("boot: write provisioning record: %w", err)
	}
	return int64(n), nil
}

// Read reads one record from r up to EOF and decodes it (Parse). More than
// MaxRecordSize bytes is ErrRecordTooLarge.
func Read(r io.Reader) (Record, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	defer clear(b)
	if err != nil {
		return Record{}, fmt.Errorf("boot: read provisioning record: %w", err)
	}
	return Parse(b)
}

// ReadFromFD reads the record from descriptor fd up to EOF and closes fd,
// whatever the outcome.
func ReadFromFD(fd uintptr) (Record, error) {
	f := os.NewFile(fd, "provisioning-record")
	if f == nil {
		return Record{}, fmt.Errorf("boot: descriptor %d is not valid", fd)
	}
	rec, err := Read(f)
	if cerr := f.Close(); cerr != nil && err == nil {
		rec.Wipe()
		return Record{}, fmt.Errorf("boot: close provisioning descriptor: %w", cerr)
	}
	return rec, err
}

// ReadInherited reads the record from InheritedFD (fd 3) and closes it.
// A TA calls it once, first thing.
func ReadInherited() (Record, error) { return ReadFromFD(InheritedFD) }

// RecordPipe returns the read end of a pipe that holds rec followed by
// EOF, for exec.Cmd.ExtraFiles[0] (the child's fd 3). The caller closes it
// after starting the child. A record is far smaller than a pipe buffer, so
// the write completes before any reader exists.
func RecordPipe(rec Record) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("boot: provisioning pipe: %w", err)
	}
	_, werr := rec.WriteTo(w)
	cerr := w.Close()
	if err := errors.Join(werr, cerr); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}
