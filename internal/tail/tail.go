// Package tail is the bounded, concurrency-safe tail of a child process's
// output: what the launcher (sim/device), the payment server runner
// (payserver/serverproc) and the attack harness (sim/attack) keep of a
// stderr or log stream for their error reports and findings. A child can
// write without limit; a Buffer holds at most its last Max bytes.
// Standard library only.
package tail

import (
	"io"
	"sync"
)

// Buffer keeps the last Max bytes written to it, and copies every write to
// Copy when Copy is set. Set the fields before the first Write; a Buffer
// is then safe for concurrent use. Max ≤ 0 keeps nothing.
type Buffer struct {
	Max  int
	Copy io.Writer

	mu      sync.Mutex
	buf     []byte
	written int64
}

// New returns a Buffer keeping the last n bytes.
func New(n int) *Buffer { return &Buffer{Max: n} }

// Write keeps the end of p and passes p to Copy; it never fails (a failing
// Copy is ignored, so that a broken log sink does not stop the child).
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Copy != nil {
		_, _ = b.Copy.Write(p)
	}
	b.written += int64(len(p))
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - max(b.Max, 0); over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Written returns how many bytes were ever written.
func (b *Buffer) Written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}

// Since returns what was written after the first from bytes (as much of it
// as the buffer still holds) and the new total (Written).
func (b *Buffer) Since(from int64) ([]byte, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := max(min(b.written-from, int64(len(b.buf))), 0)
	return append([]byte(nil), b.buf[int64(len(b.buf))-n:]...), b.written
}
