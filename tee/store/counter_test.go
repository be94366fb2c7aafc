package store

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func newFileCounter(t testing.TB) *FileCounter {
	t.Helper()
	c, err := OpenFileCounter(filepath.Join(t.TempDir(), "rpmb", "ta.ctr"), testKey())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(c.Path()), 0o700))
	return c
}

func TestFileCounter(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityPower} {
		t.Run(d.String(), func(t *testing.T) {
			c, err := OpenFileCounter(filepath.Join(t.TempDir(), "ctr"), testKey(), CounterDurability(d))
			require.NoError(t, err)
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
			_, err = os.Stat(c.Path() + ".tmp")
			require.ErrorIs(t, err, os.ErrNotExist, "no temp file left behind")

			// Persisted: a new handle on the same file reads the same value.
			c2, err := OpenFileCounter(c.Path(), testKey())
			require.NoError(t, err)
			v, err = c2.Read()
			require.NoError(t, err)
			require.EqualValues(t, 5, v)
		})
	}
}

func TestFileCounterTampered(t *testing.T) {
	c := newFileCounter(t)
	require.NoError(t, c.Increment(3))
	good, err := os.ReadFile(c.Path())
	require.NoError(t, err)
	require.Len(t, good, counterRecordSize)

	t.Run("every byte flipped", func(t *testing.T) {
		for i := range good {
			b := append([]byte(nil), good...)
			b[i] ^= 0x01
			require.NoError(t, os.WriteFile(c.Path(), b, 0o600))
			_, err := c.Read()
			require.ErrorIs(t, err, ErrCounterTampered, "byte %d", i)
			require.ErrorIs(t, c.Increment(10), ErrCounterTampered, "no write over a tampered record")
		}
	})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:counterRecordSize-1]},
		{"extended", append(append([]byte(nil), good...), 0)},
		{"value raised, MAC kept", func() []byte {
			b := append([]byte(nil), good...)
			b[12] = 0xFF
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(c.Path(), tc.b, 0o600))
			_, err := c.Read()
			require.ErrorIs(t, err, ErrCounterTampered)
		})
	}
	t.Run("another TA's key", func(t *testing.T) {
		require.NoError(t, os.WriteFile(c.Path(), good, 0o600))
		other, err := OpenFileCounter(c.Path(), otherKey())
		require.NoError(t, err)
		_, err = other.Read()
		require.ErrorIs(t, err, ErrCounterTampered)
	})
}

func TestFileCounterArguments(t *testing.T) {
	_, err := OpenFileCounter("", testKey())
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = OpenFileCounter(filepath.Join(t.TempDir(), "c"), make([]byte, 8))
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestCounterRecordGolden pins the counter record format.
func TestCounterRecordGolden(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	ck, err := deriveKey(key, labelCounterKey, counterKeySize)
	require.NoError(t, err)
	path := filepath.Join("testdata", "counter_v1.hex")
	rec := marshalCounterRecord(ck, 0x0102030405060708)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(rec)+"\n"), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	want := unhex(t, string(b[:len(b)-1]))
	require.Equal(t, want, rec)
	require.Equal(t, "FPMC\x01", string(want[:5]))
	v, err := parseCounterRecord(ck, want)
	require.NoError(t, err)
	require.EqualValues(t, 0x0102030405060708, v)
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
					require.ErrorIs(t, err, ErrCounterBackwards)
				}
				_, err := c.Read()
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	v, err := c.Read()
	require.NoError(t, err)
	require.EqualValues(t, 20*8+7, v, "the largest target wins")
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
