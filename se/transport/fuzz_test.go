package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/fpemu/fpemu/se/apdu"
)

// FuzzReadFrame: the socket frame reader never panics, never returns
// more than max bytes or an empty frame, and returns exactly the payload
// WriteFrame would have framed. Seeds: a command frame, an empty and an
// oversized length, a truncated payload.
func FuzzReadFrame(f *testing.F) {
	var ok bytes.Buffer
	_ = WriteFrame(&ok, []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x46, 0x50, 0x45, 0x4D, 0x55, 0x01})
	f.Add(ok.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1})
	f.Add([]byte{0, 0, 0, 5, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ReadFrame(bytes.NewReader(b), apdu.MaxCommandSize)
		if err != nil {
			if p != nil {
				t.Fatalf("partial frame with %v", err)
			}
			if !errors.Is(err, ErrFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(p) == 0 || len(p) > apdu.MaxCommandSize {
			t.Fatalf("frame of %d bytes", len(p))
		}
		var w bytes.Buffer
		if err := WriteFrame(&w, p); err != nil || !bytes.Equal(w.Bytes(), b[:4+len(p)]) {
			t.Fatalf("re-frame: %v", err)
		}
	})
}
