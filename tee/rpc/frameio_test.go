package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee/wire"
)

// noDeadline stands in for a connection's SetReadDeadline.
type noDeadline struct{ sets atomic.Int32 }

func (d *noDeadline) SetReadDeadline(time.Time) error { d.sets.Add(1); return nil }

// frameOf returns a frame of total size n (prefix included) whose body
// bytes are fill.
func frameOf(n int, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	binary.BigEndian.PutUint32(b, uint32(n-wire.LengthLen))
	return b
}

// splitFrames is the reference: the frames of a well-formed stream.
func splitFrames(b []byte) (frames [][]byte, rest []byte, err error) {
	for len(b) >= wire.LengthLen {
		n, err := wire.FrameLen(b)
		if err != nil {
			return frames, b, err
		}
		if len(b) < n {
			break
		}
		frames, b = append(frames, b[:n]), b[n:]
	}
	return frames, b, nil
}

// TestFrameReaderGrowsWithBytes: a large frame's buffer never exceeds
// twice the bytes received plus one growth step, and it reserves its
// whole size in the budget until the next frame is read.
func TestFrameReaderGrowsWithBytes(t *testing.T) {
	big := frameOf(wire.LengthLen+wire.MaxFrameLen, 0xAB)
	stream := append(append([]byte{}, big...), frameOf(64, 1)...)
	var received int
	r := iotest.OneByteReader(bytes.NewReader(stream)) // worst case: a byte per read
	counting := readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		received += n
		return n, err
	})
	fr := newFrameReader(counting)
	b := newBudget(4 << 20)
	fr.guard = &frameGuard{budget: b, timeout: time.Minute, conn: &noDeadline{}, stop: make(chan struct{}), stopping: new(atomic.Bool)}

	got, err := fr.next()
	require.NoError(t, err)
	assert.Equal(t, big, got)
	assert.LessOrEqual(t, cap(fr.buf), 2*received+growStep)
	assert.Equal(t, int64(len(big)), b.inUse(), "the whole frame is reserved")
	small, err := fr.next()
	require.NoError(t, err)
	assert.Len(t, small, 64)
	assert.Zero(t, b.inUse(), "released once the next frame is read")
	_, err = fr.next()
	assert.ErrorIs(t, err, io.EOF)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestFrameReaderBudgetTimeout: a frame that cannot get budget waits at
// most its timeout (ErrFrameTimeout), holding nothing, and the budget is
// intact afterwards.
func TestFrameReaderBudgetTimeout(t *testing.T) {
	b := newBudget(wire.LengthLen + wire.MaxFrameLen)
	require.True(t, b.tryAcquire(b.size)) // another frame holds it all
	fr := newFrameReader(bytes.NewReader(frameOf(ownBufLen+1, 2)))
	fr.guard = &frameGuard{budget: b, timeout: 50 * time.Millisecond, conn: &noDeadline{}, stop: make(chan struct{}), stopping: new(atomic.Bool)}
	start := time.Now()
	_, err := fr.next()
	require.ErrorIs(t, err, ErrFrameTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
	b.release(b.size)
	assert.Zero(t, b.inUse())
}

// FuzzFrameReader feeds arbitrary bytes, split at arbitrary points, to
// the host's frame reader: it never panics, returns exactly the frames a
// reference splitter finds (in order), and ends with io.EOF, an
// unexpected EOF, or a *wire.FormatError exactly where the reference
// does; the budget is wholly returned afterwards.
func FuzzFrameReader(f *testing.F) {
	f.Add(frameOf(12, 0), uint8(1))
	f.Add(append(frameOf(ownBufLen, 1), frameOf(ownBufLen+1, 2)...), uint8(7))
	f.Add(append(frameOf(100, 3), 0, 0, 0, 1), uint8(3))                // bad length after a frame
	f.Add(append(frameOf(70000, 4), frameOf(20, 5)[:9]...), uint8(255)) // truncated second frame
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		want, rest, wantErr := splitFrames(data)
		step := int(chunk%16) + 1
		r := readerFunc(func(p []byte) (int, error) {
			if len(data) == 0 {
				return 0, io.EOF
			}
			n := copy(p[:min(len(p), step)], data)
			data = data[n:]
			return n, nil
		})
		b := newBudget(wire.LengthLen + wire.MaxFrameLen)
		fr := newFrameReader(r)
		fr.guard = &frameGuard{budget: b, timeout: time.Minute, conn: &noDeadline{}, stop: make(chan struct{}), stopping: new(atomic.Bool)}
		var got [][]byte
		var err error
		for {
			var fb []byte
			if fb, err = fr.next(); err != nil {
				break
			}
			got = append(got, bytes.Clone(fb))
		}
		fr.close()
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i], got[i])
		}
		var fe *wire.FormatError
		switch {
		case wantErr != nil:
			require.ErrorAs(t, err, &fe)
		case len(rest) == 0:
			require.ErrorIs(t, err, io.EOF)
		default:
			require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
		}
		require.Zero(t, b.inUse())
	})
}
