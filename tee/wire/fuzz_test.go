package wire

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fpemu/fpemu/tee"
)

// addGoldenFrames seeds f with every golden frame of testdata (*.hex),
// failing when there is none.
func addGoldenFrames(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if len(files) == 0 {
		f.Fatal("no golden frames in testdata")
	}
	for _, name := range files {
		b, err := readHex(filepath.Base(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeFrame: any input either decodes to a frame whose encoding is
// exactly the input (the format is canonical), or fails as a *FormatError
// matching tee.ErrBadFormat with the zero Frame. Never a panic.
func FuzzDecodeFrame(f *testing.F) {
	addGoldenFrames(f)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 8, 1, 0x80, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 0x10, 0, 1})
	f.Add([]byte{0, 0, 0, 0x14, 1, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})

	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		fr, err := DecodeFrame(in)
		if !bytes.Equal(orig, in) {
			t.Fatal("DecodeFrame modified its input")
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, tee.ErrBadFormat) {
				t.Fatalf("error %v is not a BAD_FORMAT *FormatError", err)
			}
			if !reflect.DeepEqual(fr, Frame{}) {
				t.Fatalf("partial result on error: %+v", fr)
			}
			return
		}
		out, err := AppendFrame(nil, &fr)
		if err != nil {
			t.Fatalf("re-encode of a decoded frame failed: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", in, out)
		}
		if id, ok := RequestID(in); !ok || id != fr.RequestID {
			t.Fatalf("RequestID = %d, %v; frame says %d", id, ok, fr.RequestID)
		}
	})
}

// FuzzDecodeFrameInto: DecodeFrameInto decodes exactly as DecodeFrame (the
// same frame, or an error of the same kind with the zero Frame and the
// arena's length unchanged); the arena keeps its earlier bytes, grows by at
// most the frame's size, and nothing decoded aliases the input.
func FuzzDecodeFrameInto(f *testing.F) {
	addGoldenFrames(f)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0x14, 1, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})

	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := DecodeFrame(in)
		const prefix = "arena"
		arena := make([]byte, len(prefix), len(prefix)+3) // forces one growth
		copy(arena, prefix)
		var got Frame
		got.Command = 0xFFFF // DecodeFrameInto overwrites the whole frame
		in2 := bytes.Clone(in)
		out, err := DecodeFrameInto(&got, in2, arena)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeFrameInto error %v, DecodeFrame error %v", err, wantErr)
		}
		if string(out[:len(prefix)]) != prefix {
			t.Fatalf("arena prefix overwritten: %q", out[:len(prefix)])
		}
		if len(out) > len(prefix)+len(in) {
			t.Fatalf("arena grew by %d for a %d-byte input", len(out)-len(prefix), len(in))
		}
		if err != nil {
			var fe, wfe *FormatError
			if !errors.As(err, &fe) || !errors.As(wantErr, &wfe) || fe.Kind != wfe.Kind || fe.Offset != wfe.Offset {
				t.Fatalf("error %v, DecodeFrame says %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, Frame{}) || len(out) != len(prefix) {
				t.Fatalf("partial result on error: %+v, arena %d bytes", got, len(out))
			}
			return
		}
		for i := range in2 {
			in2[i] ^= 0xFF // the caller reuses its read buffer
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeFrameInto = %+v, DecodeFrame = %+v", got, want)
		}
	})
}

// FuzzDecodeParams: the same property for a bare parameter block in each
// of the three layouts (the layout is the first input byte mod 3).
func FuzzDecodeParams(f *testing.F) {
	f.Add(byte(0), []byte{0, 0, 0, 0})
	f.Add(byte(0), []byte{1, 5, 6, 7, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 16, 0, 0, 0, 8, 0, 0, 0, 2, 'x', 'y'})
	f.Add(byte(1), []byte{2, 3, 6, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 'z', 0, 0, 0, 0})
	f.Add(byte(2), []byte{6, 7, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2})
	f.Add(byte(0), []byte{0x0C, 0, 0, 0})
	f.Add(byte(0), []byte{7, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 'a', 'b'})

	f.Fuzz(func(t *testing.T, sel byte, in []byte) {
		l := Layout(sel%3) + LayoutRequest
		p, err := DecodeParams(in, l)
		if err != nil {
			if !errors.Is(err, tee.ErrBadFormat) {
				t.Fatalf("error %v is not BAD_FORMAT", err)
			}
			if !reflect.DeepEqual(p, tee.Params{}) {
				t.Fatalf("partial result on error: %+v", p)
			}
			return
		}
		out, err := AppendParams(nil, &p, l)
		if err != nil {
			t.Fatalf("re-encode failed: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", in, out)
		}
	})
}
