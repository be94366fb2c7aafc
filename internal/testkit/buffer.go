package testkit

import (
	"bytes"
	"io"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: os/exec copies a
// child's stderr into it from its own goroutine while the test reads it.
// The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Len returns how many bytes were written so far.
func (l *Buffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// WriteConcurrently has writers goroutines each write p to w n times,
// calling read after every write, and waits for all of them: run under
// -race, it checks a writer meant to be shared by a child's stderr copy
// and the test (or report) that reads it.
func WriteConcurrently(w io.Writer, writers, n int, p []byte, read func()) {
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				_, _ = w.Write(p)
				read()
			}
		}()
	}
	wg.Wait()
}
