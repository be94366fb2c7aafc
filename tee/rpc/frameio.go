package rpc

import (
	"bufio"
	"io"
	"net"
	"sync"

	"github.com/fpemu/fpemu/tee/wire"
)

// keepBufLen bounds the read and write buffers kept between frames, so a
// single 1 MiB frame does not pin 1 MiB per connection forever.
const keepBufLen = 64 << 10

// readBufLen is the bufio size for reading frames: a typical command frame
// arrives in one read(2).
const readBufLen = 16 << 10

// frameReader reads whole frames from a stream. It is resumable: if a
// read fails with a deadline (used to interrupt a blocked reader) after part
// of a frame arrived, the next call continues where it stopped, so the
// stream stays in sync.
type frameReader struct {
	r    *bufio.Reader
	hdr  [wire.LengthLen]byte
	buf  []byte
	n    int // bytes of the current frame read so far
	want int // size of the current frame, 0 until its prefix is read
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBufLen), buf: make([]byte, 0, 512)}
}

// next returns the next whole frame, length prefix included. The bytes are
// valid until the following call. A *wire.FormatError means the length
// prefix was out of range: the stream cannot be resynchronised. io.EOF
// means the stream ended cleanly between frames.
func (fr *frameReader) next() ([]byte, error) {
	if fr.want == 0 {
		for fr.n < wire.LengthLen {
			m, err := fr.r.Read(fr.hdr[fr.n:])
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
		if cap(fr.buf) < n || cap(fr.buf) > keepBufLen {
			fr.buf = make([]byte, 0, max(n, 512))
		}
		copy(fr.buf[:wire.LengthLen], fr.hdr[:])
		fr.want = n
	}
	b := fr.buf[:fr.want]
	for fr.n < fr.want {
		m, err := fr.r.Read(b[fr.n:])
		fr.n += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	fr.n, fr.want = 0, 0
	return b, nil
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
