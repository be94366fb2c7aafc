package rpc

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fpemu/fpemu/tee/wire"
)

// keepBufLen bounds the write buffers kept between frames, so a single
// 1 MiB response does not pin 1 MiB forever.
const keepBufLen = 64 << 10

// readBufLen is the bufio size for reading frames: a typical command frame
// arrives in one read(2).
const readBufLen = 16 << 10

// Frame buffering (docs/protocol.md §1.6, "Limits"). A frame of at most
// ownBufLen bytes (length prefix included) is read into the connection's
// own buffer, which is kept between frames and never exceeds ownBufLen. A
// larger frame's memory grows only with the bytes received: its buffer
// starts at growStep bytes and doubles (capped at the frame's size) only
// once the bytes received fill it, so it is never more than twice the
// bytes received plus growStep.
//
// On the host, a larger frame first reserves its whole size in the TA-wide
// frame budget (WithFrameBudget), which it holds until the frame is
// consumed. Reserving the whole frame before reading on, rather than each
// growth step, means a reader never waits for budget while holding some:
// readers that each hold part of the budget and wait for more cannot
// deadlock the host.
const (
	ownBufLen = 8 << 10
	growStep  = 64 << 10
)

// frameGuard is what the TA host adds to a frame reader: the TA-wide
// budget for large frames and the timeout of an incomplete frame.
type frameGuard struct {
	budget   *budget
	timeout  time.Duration
	conn     interface{ SetReadDeadline(time.Time) error }
	stop     <-chan struct{} // closed when reading must stop
	stopping *atomic.Bool    // set before a read deadline interrupts reading
}

// frameReader reads whole frames from a stream. It is resumable: if a
// read fails with a deadline (used to interrupt a blocked reader) after part
// of a frame arrived, the next call continues where it stopped, so the
// stream stays in sync.
type frameReader struct {
	r     *bufio.Reader
	hdr   [wire.LengthLen]byte
	own   []byte // the connection's own buffer, cap ≤ ownBufLen
	buf   []byte // the current frame's buffer: own, or a grown one
	n     int    // bytes of the current frame read so far
	want  int    // size of the current frame, 0 until its prefix is read
	done  bool   // the last call returned a frame whose buffer is now free
	guard *frameGuard

	charged  int64     // budget bytes held by buf
	deadline time.Time // the current frame's timeout, zero until armed
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBufLen)}
}

// next returns the next whole frame, length prefix included. The bytes are
// valid until the following call. A *wire.FormatError means the length
// prefix was out of range: the stream cannot be resynchronised. io.EOF
// means the stream ended cleanly between frames. On the host,
// ErrFrameTimeout means a frame stayed incomplete for longer than its
// timeout (the stream cannot be resynchronised either).
func (fr *frameReader) next() ([]byte, error) {
	if fr.done {
		fr.done = false
		fr.free()
	}
	if fr.want == 0 {
		for fr.n < wire.LengthLen {
			m, err := fr.read(fr.hdr[fr.n:], fr.n > 0)
			fr.n += m
			if err != nil {
				if err == io.EOF && fr.n > 0 {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		n, err := wire.FrameLen(fr.hdr[:])
		if err != nil {
			return nil, err
		}
		if n <= ownBufLen {
			if cap(fr.own) < n {
				fr.own = make([]byte, 0, min(ownBufLen, max(n, 2*cap(fr.own), 512)))
			}
			fr.buf = fr.own[:n]
		} else {
			if err := fr.charge(int64(n)); err != nil {
				return nil, err
			}
			fr.buf = make([]byte, min(n, growStep))
		}
		copy(fr.buf, fr.hdr[:])
		fr.want = n
	}
	for fr.n < fr.want {
		if fr.n == len(fr.buf) {
			grown := min(fr.want, 2*len(fr.buf))
			b := make([]byte, grown)
			copy(b, fr.buf[:fr.n])
			fr.buf = b
		}
		m, err := fr.read(fr.buf[fr.n:min(len(fr.buf), fr.want)], true)
		fr.n += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	b := fr.buf[:fr.want]
	fr.n, fr.want = 0, 0
	fr.done = true
	fr.disarm()
	return b, nil
}

// read reads into p; midFrame says part of a frame has arrived, so a read
// that must wait for the kernel arms the frame's timeout first.
func (fr *frameReader) read(p []byte, midFrame bool) (int, error) {
	if midFrame && fr.r.Buffered() == 0 {
		fr.arm()
	}
	m, err := fr.r.Read(p)
	if err != nil && fr.guard != nil && !fr.deadline.IsZero() &&
		errors.Is(err, os.ErrDeadlineExceeded) && !fr.guard.stopping.Load() {
		err = ErrFrameTimeout
	}
	return m, err
}

// arm starts the current frame's timeout (host only, once per frame).
func (fr *frameReader) arm() {
	if fr.guard == nil || !fr.deadline.IsZero() {
		return
	}
	fr.deadline = time.Now().Add(fr.guard.timeout)
	_ = fr.guard.conn.SetReadDeadline(fr.deadline)
	if fr.guard.stopping.Load() {
		// A shutdown's interruption (stopReading) must not be undone.
		_ = fr.guard.conn.SetReadDeadline(time.Now())
	}
}

// disarm clears an armed timeout once its frame is complete, keeping a
// shutdown's interruption if one raced with it.
func (fr *frameReader) disarm() {
	if fr.deadline.IsZero() {
		return
	}
	fr.deadline = time.Time{}
	_ = fr.guard.conn.SetReadDeadline(time.Time{})
	if fr.guard.stopping.Load() {
		_ = fr.guard.conn.SetReadDeadline(time.Now())
	}
}

// charge reserves n bytes of the host's frame budget for the current frame,
// waiting (with the frame's timeout armed) while it is exhausted: the
// reader then stops reading and the bytes wait in the kernel.
func (fr *frameReader) charge(n int64) error {
	if fr.guard == nil || fr.guard.budget == nil {
		return nil
	}
	b := fr.guard.budget
	if !b.tryAcquire(n) {
		fr.arm()
		if err := b.acquire(n, fr.deadline, fr.guard.stop); err != nil {
			return err
		}
	}
	fr.charged += n
	return nil
}

// free drops a grown buffer and returns its budget.
func (fr *frameReader) free() {
	if fr.charged > 0 {
		fr.guard.budget.release(fr.charged)
		fr.charged = 0
	}
	if len(fr.buf) > ownBufLen {
		fr.buf = nil
	}
}

// close releases what the reader holds (connection teardown).
func (fr *frameReader) close() {
	fr.free()
	fr.buf = nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeFrame encodes f and writes it to w in one call while holding mu.
func writeFrame(mu *sync.Mutex, w net.Conn, f *wire.Frame) error {
	bp := bufPool.Get().(*[]byte)
	b, err := wire.AppendFrame((*bp)[:0], f)
	if err == nil {
		mu.Lock()
		_, err = w.Write(b)
		mu.Unlock()
	}
	if cap(b) <= keepBufLen {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return err
}
