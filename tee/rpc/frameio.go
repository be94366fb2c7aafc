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

// frameReader reads whole frames from a stream.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBufLen), buf: make([]byte, 0, 512)}
}

// next returns the next whole frame, length prefix included. The bytes are
// valid until the following call. A *wire.FormatError means the length
// prefix was out of range: the stream cannot be resynchronised.
func (fr *frameReader) next() ([]byte, error) {
	var hdr [wire.LengthLen]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return nil, err
	}
	n, err := wire.FrameLen(hdr[:])
	if err != nil {
		return nil, err
	}
	if cap(fr.buf) < n || cap(fr.buf) > keepBufLen {
		fr.buf = make([]byte, 0, max(n, 512))
	}
	b := fr.buf[:n]
	copy(b, hdr[:])
	if _, err := io.ReadFull(fr.r, b[wire.LengthLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
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
