package store

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFileCounter(t testing.TB) *FileCounter {
	t.Helper()
	c, err := OpenFileCounter(filepath.Join(t.TempDir(), "rpmb", "ta.ctr"), testKey())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(c.Path()), 0o700))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readCounter reads the counter at path with a fresh handle.
func readCounter(t testing.TB, path string, key []byte) (uint64, error) {
	t.Helper()
	c, err := OpenFileCounter(path, key)
	require.NoError(t, err)
	defer c.Close()
	return c.Read()
}

// goldenKey is the storage key of the golden counter files: bytes 0..31.
func goldenKey() []byte {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}

func TestFileCounter(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityPower} {
		t.Run(d.String(), func(t *testing.T) {
			c, err := OpenFileCounter(filepath.Join(t.TempDir(), "ctr"), testKey(), CounterDurability(d))
			require.NoError(t, err)
			defer c.Close()
			require.Equal(t, d == DurabilityPower, c.sync)
			v, err := c.Read()
			require.NoError(t, err)
			require.Zero(t, v, "a counter never written reads 0")

			require.NoError(t, c.Increment(1))
			require.NoError(t, c.Increment(5))
			require.NoError(t, c.Increment(5), "same value is a no-op")
			require.ErrorIs(t, c.Increment(4), ErrCounterBackwards)
			v, err = c.Read()
			require.NoError(t, err)
			require.EqualValues(t, 5, v)

			fi, err := os.Stat(c.Path())
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			require.EqualValues(t, counterFileSize, fi.Size())
			_, err = os.Stat(c.Path() + ".tmp")
			require.ErrorIs(t, err, os.ErrNotExist, "no temp file left behind")

			// Persisted: a new handle on the same file reads the same value.
			v, err = readCounter(t, c.Path(), testKey())
			require.NoError(t, err)
			require.EqualValues(t, 5, v)
		})
	}
}

// TestFileCounterInPlace shows that after the file's creation a write is
// in place: the inode stays, no temp file appears, the slots alternate.
func TestFileCounterInPlace(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Increment(1))
	ino := func() uint64 {
		fi, err := os.Stat(c.Path())
		require.NoError(t, err)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	first := ino()
	for v := uint64(2); v <= 6; v++ {
		require.NoError(t, c.Increment(v))
		require.Equal(t, first, ino(), "same inode after writing %d", v)
		b, err := os.ReadFile(c.Path())
		require.NoError(t, err)
		st, err := parseCounterFile(c.key, b)
		require.NoError(t, err)
		require.Equal(t, counterState{value: v, slot: int((v + 1) % 2), version: counterVersion2}, st)
		// The other slot holds the previous value.
		other, err := parseCounterSlot(c.key, 1-st.slot, b[(1-st.slot)*counterSlotStride:][:counterSlotSize])
		require.NoError(t, err)
		require.Equal(t, v-1, other)
		entries, err := os.ReadDir(filepath.Dir(c.Path()))
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temp file")
	}
}

// TestFileCounterRewound: a file rewound under a running process cannot
// make Increment go backwards (it trusts the value it holds, not the
// file), and Read reports the rewound file.
func TestFileCounterRewound(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Increment(5))
	old, err := os.ReadFile(c.Path())
	require.NoError(t, err)
	require.NoError(t, c.Increment(10))
	require.NoError(t, os.WriteFile(c.Path(), old, 0o600)) // same inode, older content

	require.ErrorIs(t, c.Increment(7), ErrCounterBackwards, "7 < 10 although the file says 5")
	require.NoError(t, c.Increment(10), "still at 10: a no-op")
	_, err = c.Read()
	require.ErrorIs(t, err, ErrCounterTampered)
	require.NoError(t, c.Increment(11))
	v, err := readCounter(t, c.Path(), testKey())
	require.NoError(t, err)
	require.EqualValues(t, 11, v)
}

// TestFileCounterTornSlot: one invalid slot is tolerated (the other slot's
// value is read); both invalid is ErrCounterTampered.
func TestFileCounterTornSlot(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Increment(3))
	require.NoError(t, c.Increment(4)) // slot A 3... B 4
	good, err := os.ReadFile(c.Path())
	require.NoError(t, err)
	require.Len(t, good, counterFileSize)
	slotA, slotB := 0, counterSlotStride

	tear := func(b []byte, off, n int) []byte {
		b = append([]byte(nil), b...)
		for i := off + counterSlotSize - n; i < off+counterSlotSize; i++ {
			b[i] = 0 // the tail of the slot never reached the disk
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want uint64
		err  error
	}{
		{"intact", good, 4, nil},
		{"newest torn", tear(good, slotB, 20), 3, nil},
		{"older torn", tear(good, slotA, 20), 4, nil},
		{"newest zeroed", tear(good, slotB, counterSlotSize), 3, nil},
		{"both torn", tear(tear(good, slotA, 1), slotB, 1), 0, ErrCounterTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(c.Path(), tc.b, 0o600))
			v, err := readCounter(t, c.Path(), testKey())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, v)
		})
	}
	t.Run("writes go to the torn slot", func(t *testing.T) {
		require.NoError(t, os.WriteFile(c.Path(), tear(good, slotB, 20), 0o600))
		d, err := OpenFileCounter(c.Path(), testKey())
		require.NoError(t, err)
		defer d.Close()
		require.NoError(t, d.Increment(9))
		b, err := os.ReadFile(c.Path())
		require.NoError(t, err)
		va, err := parseCounterSlot(d.key, 0, b[:counterSlotSize])
		require.NoError(t, err)
		vb, err := parseCounterSlot(d.key, 1, b[slotB:])
		require.NoError(t, err)
		require.Equal(t, [2]uint64{3, 9}, [2]uint64{va, vb}, "the valid older slot was kept")
	})
}

func TestFileCounterTampered(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Increment(3))
	good, err := os.ReadFile(c.Path())
	require.NoError(t, err)
	require.Len(t, good, counterFileSize)
	key := c.key

	t.Run("every byte flipped", func(t *testing.T) {
		// Both slots hold 3 after creation. A flip in one slot leaves the
		// other (still 3); a flip in the padding is refused.
		for i := range good {
			b := append([]byte(nil), good...)
			b[i] ^= 0x01
			st, err := parseCounterFile(key, b)
			inSlot := i < counterSlotSize || i >= counterSlotStride
			if inSlot {
				require.NoError(t, err, "byte %d", i)
				require.EqualValues(t, 3, st.value, "byte %d", i)
				require.Equal(t, btoi(i < counterSlotSize), st.slot, "byte %d: the other slot", i)
			} else {
				require.ErrorIs(t, err, ErrCounterTampered, "byte %d", i)
			}
		}
	})
	t.Run("every byte flipped in both slots", func(t *testing.T) {
		for i := range counterSlotSize {
			b := append([]byte(nil), good...)
			b[i] ^= 0x01
			b[counterSlotStride+i] ^= 0x01
			_, err := parseCounterFile(key, b)
			require.ErrorIs(t, err, ErrCounterTampered, "byte %d", i)
		}
	})
	swapped := append([]byte(nil), good...)
	copy(swapped, good[counterSlotStride:])
	copy(swapped[counterSlotStride:], good[:counterSlotSize])
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:counterFileSize-1]},
		{"extended", append(append([]byte(nil), good...), 0)},
		{"slots swapped", swapped},
		{"value raised in both slots, MAC kept", func() []byte {
			b := append([]byte(nil), good...)
			b[13] = 0xFF
			b[counterSlotStride+13] = 0xFF
			return b
		}()},
		{"huge", make([]byte, 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(c.Path(), tc.b, 0o600))
			_, err := readCounter(t, c.Path(), testKey())
			require.ErrorIs(t, err, ErrCounterTampered)
			d, err := OpenFileCounter(c.Path(), testKey())
			require.NoError(t, err)
			defer d.Close()
			require.ErrorIs(t, d.Increment(10), ErrCounterTampered, "no write over a tampered file")
		})
	}
	t.Run("another TA's key", func(t *testing.T) {
		require.NoError(t, os.WriteFile(c.Path(), good, 0o600))
		_, err := readCounter(t, c.Path(), otherKey())
		require.ErrorIs(t, err, ErrCounterTampered)
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFileCounterUnsafeFile: the counter file must be a regular file of
// ours with one link; a symbolic link is not followed.
func TestFileCounterUnsafeFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	src := newFileCounter(t)
	require.NoError(t, src.Increment(2))
	good, err := os.ReadFile(src.Path())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(target, good, 0o600))

	for _, tc := range []struct {
		name  string
		setup func(path string)
	}{
		{"symlink", func(p string) { require.NoError(t, os.Symlink(target, p)) }},
		{"hard link", func(p string) { require.NoError(t, os.Link(target, p)) }},
		{"directory", func(p string) { require.NoError(t, os.Mkdir(p, 0o700)) }},
		{"fifo", func(p string) { require.NoError(t, syscall.Mkfifo(p, 0o600)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			tc.setup(p)
			c, err := OpenFileCounter(p, testKey())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Read()
			require.ErrorIs(t, err, ErrCounterTampered)
			require.ErrorIs(t, c.Increment(5), ErrCounterTampered)
		})
	}
	after, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, good, after, "nothing written through a link")
}

func TestFileCounterArguments(t *testing.T) {
	_, err := OpenFileCounter("", testKey())
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = OpenFileCounter(filepath.Join(t.TempDir(), "c"), make([]byte, 8))
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestCounterRecordGolden pins the version 1 counter record format.
func TestCounterRecordGolden(t *testing.T) {
	ck, err := deriveKey(goldenKey(), labelCounterKey, counterKeySize)
	require.NoError(t, err)
	path := filepath.Join("testdata", "counter_v1.hex")
	rec := marshalCounterRecord(ck, 0x0102030405060708)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	want := unhex(t, string(b[:len(b)-1]))
	require.Equal(t, want, rec)
	require.Equal(t, "FPMC\x01", string(want[:5]))
	v, err := parseCounterRecord(ck, want)
	require.NoError(t, err)
	require.EqualValues(t, 0x0102030405060708, v)
}

// counterV2Golden assembles testdata/counter_v2.hex (slot A and slot B,
// one hex line each) into a counter file.
func counterV2Golden(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "counter_v2.hex"))
	require.NoError(t, err)
	lines := strings.Fields(string(b))
	require.Len(t, lines, 2)
	f := make([]byte, counterFileSize)
	copy(f, unhex(t, lines[0]))
	copy(f[counterSlotStride:], unhex(t, lines[1]))
	return f
}

// TestCounterFileGolden pins the version 2 file: slot A holds
// 0x0102030405060708, slot B one more, written by FileCounter itself.
func TestCounterFileGolden(t *testing.T) {
	ck, err := deriveKey(goldenKey(), labelCounterKey, counterKeySize)
	require.NoError(t, err)
	const v = 0x0102030405060708
	path := filepath.Join("testdata", "counter_v2.hex")
	a := appendCounterSlot(nil, ck, 0, v)
	b := appendCounterSlot(nil, ck, 1, v+1)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(a)+"\n"+hex.EncodeToString(b)+"\n"), 0o644))
	}
	want := counterV2Golden(t)
	require.Equal(t, a, want[:counterSlotSize])
	require.Equal(t, b, want[counterSlotStride:])
	require.Equal(t, "FPMC\x02\x00", string(want[:6]))
	require.Equal(t, "FPMC\x02\x01", string(want[counterSlotStride:][:6]))
	st, err := parseCounterFile(ck, want)
	require.NoError(t, err)
	require.Equal(t, counterState{value: v + 1, slot: 1, version: counterVersion2}, st)

	// FileCounter writes exactly these bytes: migrate the golden v1
	// record (both slots at v), then one increment goes to slot B.
	p := filepath.Join(t.TempDir(), "ctr")
	require.NoError(t, os.WriteFile(p, marshalCounterRecord(ck, v-1), 0o600))
	c, err := OpenFileCounter(p, goldenKey(), CounterDurability(DurabilityProcess))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Increment(v))
	require.NoError(t, c.Increment(v+1))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestFileCounterMigratesV1 opens the golden version 1 file: it reads its
// value, and the first write replaces it with a version 2 file.
func TestFileCounterMigratesV1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "counter_v1.hex"))
	require.NoError(t, err)
	v1 := unhex(t, strings.TrimSpace(string(b)))
	const v = 0x0102030405060708
	for _, d := range []Durability{DurabilityProcess, DurabilityPower} {
		t.Run(d.String(), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ctr")
			require.NoError(t, os.WriteFile(p, v1, 0o600))
			c, err := OpenFileCounter(p, goldenKey(), CounterDurability(d))
			require.NoError(t, err)
			defer c.Close()
			got, err := c.Read()
			require.NoError(t, err)
			require.EqualValues(t, v, got)
			require.ErrorIs(t, c.Increment(v-1), ErrCounterBackwards)
			require.NoError(t, c.Increment(v), "no-op: the v1 file stays")
			after, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, v1, after)

			require.NoError(t, c.Increment(v+1))
			after, err = os.ReadFile(p)
			require.NoError(t, err)
			require.Len(t, after, counterFileSize, "migrated to version 2")
			require.NoError(t, c.Increment(v+2), "and written in place from now on")
			got, err = readCounter(t, p, goldenKey())
			require.NoError(t, err)
			require.EqualValues(t, v+2, got)

			// A tampered v1 file is still refused.
			bad := append([]byte(nil), v1...)
			bad[12] ^= 1
			require.NoError(t, os.WriteFile(p, bad, 0o600))
			_, err = readCounter(t, p, goldenKey())
			require.ErrorIs(t, err, ErrCounterTampered)
		})
	}
}

func TestFileCounterConcurrent(t *testing.T) {
	c := newFileCounter(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 20; i++ {
				// Racing increments to interleaved targets: only
				// backwards moves may fail, and the end value is the max.
				if err := c.Increment(uint64(i*8 + g)); err != nil {
					assert.ErrorIs(t, err, ErrCounterBackwards)
				}
				_, err := c.Read()
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	v, err := c.Read()
	require.NoError(t, err)
	require.EqualValues(t, 20*8+7, v, "the largest target wins")
}

// TestFileCounterClose: Close releases the file; the counter may be used
// again and keeps the value it held.
func TestFileCounterClose(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Close(), "closing an unopened counter")
	require.NoError(t, c.Increment(2))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "twice")
	require.ErrorIs(t, c.Increment(1), ErrCounterBackwards)
	require.NoError(t, c.Increment(3))
	v, err := c.Read()
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
}

func TestMemCounter(t *testing.T) {
	c := NewMemCounter(2)
	v, err := c.Read()
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
	require.NoError(t, c.Increment(2))
	require.NoError(t, c.Increment(9))
	require.ErrorIs(t, c.Increment(8), ErrCounterBackwards)
	v, _ = c.Read()
	require.EqualValues(t, 9, v)
}
