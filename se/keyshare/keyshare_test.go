package keyshare

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testKey    = []byte("0123456789abcdef")
	testSerial = [SerialSize]byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func split(t testing.TB, k, n int) []Share {
	t.Helper()
	s, err := Split(rand.Reader, testKey, testSerial, k, n)
	require.NoError(t, err)
	return s
}

func TestSplitCombineEverySubset(t *testing.T) {
	for _, kn := range [][2]int{{2, 3}, {3, 5}, {2, 2}, {5, 5}} {
		k, n := kn[0], kn[1]
		shares := split(t, k, n)
		require.Len(t, shares, n)
		for mask := 1; mask < 1<<n; mask++ {
			var sub []Share
			for i := range n {
				if mask&(1<<i) != 0 {
					sub = append(sub, shares[i])
				}
			}
			key, err := Combine(sub, testSerial)
			if len(sub) >= k {
				require.NoError(t, err, "k=%d n=%d subset %b", k, n, mask)
				assert.Equal(t, testKey, key)
			} else {
				require.ErrorIs(t, err, ErrTooFew, "k=%d n=%d subset %b", k, n, mask)
				assert.Nil(t, key)
			}
		}
	}
}

// TestCombineRefusals: a wrong or short set of shares is an error, never
// a wrong key.
func TestCombineRefusals(t *testing.T) {
	shares := split(t, 2, 3)
	other := split(t, 2, 3) // another split of the same key
	otherKey, err := Split(rand.Reader, []byte("fedcba9876543210"), testSerial, 2, 3)
	require.NoError(t, err)
	tampered := shares[1]
	tampered.Value[0] ^= 1
	forged := otherKey[1]
	forged.Commit = shares[0].Commit // a share of another key under this commitment
	badK := shares[1]
	badK.K = 3
	for _, c := range []struct {
		name   string
		shares []Share
		serial [SerialSize]byte
		want   error
	}{
		{"none", nil, testSerial, ErrTooFew},
		{"one of two", shares[:1], testSerial, ErrTooFew},
		{"same share twice", []Share{shares[0], shares[0]}, testSerial, ErrInconsistent},
		{"tampered value", []Share{shares[0], tampered}, testSerial, ErrBadShare},
		{"share of another key under this commitment", []Share{shares[0], forged}, testSerial, ErrBadShare},
		{"mixed splits", []Share{shares[0], other[1]}, testSerial, ErrInconsistent},
		{"mixed keys", []Share{shares[0], otherKey[1]}, testSerial, ErrInconsistent},
		{"other card", shares[:2], [SerialSize]byte{9}, ErrWrongCard},
		{"parameters disagree", []Share{shares[0], badK}, testSerial, ErrEncoding},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := Combine(c.shares, c.serial)
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, key)
		})
	}
}

func TestSplitParams(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		k, n int
	}{{testKey, 1, 3}, {testKey, 4, 3}, {testKey, 2, 17}, {testKey[:8], 2, 3}} {
		_, err := Split(rand.Reader, c.key, testSerial, c.k, c.n)
		require.ErrorIs(t, err, ErrParams, "%+v", c)
	}
}

func TestMarshalParse(t *testing.T) {
	shares := split(t, 3, 5)
	for _, s := range shares {
		b, err := s.Marshal()
		require.NoError(t, err)
		assert.Len(t, b, headerSize+scalarSize+3*elementSize)
		got, err := Parse(b)
		require.NoError(t, err)
		assert.Equal(t, s, got)
		for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte{}, b...), 0), append([]byte("XPKS"), b[4:]...)} {
			_, err := Parse(bad)
			require.ErrorIs(t, err, ErrEncoding)
		}
	}
	// A share with id 0 or id > n does not parse.
	b, err := shares[0].Marshal()
	require.NoError(t, err)
	for _, id := range []byte{0, 6} {
		bad := append([]byte{}, b...)
		bad[7] = id
		_, err := Parse(bad)
		require.ErrorIs(t, err, ErrEncoding)
	}
}

// TestFiles: shares in separate files; O_EXCL; a group-readable file,
// a symbolic link and a truncated file are refused.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	shares := split(t, 2, 3)
	var paths []string
	for i, s := range shares {
		p := filepath.Join(dir, "share"+string(rune('0'+i)))
		require.NoError(t, WriteFile(p, s))
		paths = append(paths, p)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	require.Error(t, WriteFile(paths[0], shares[0]), "never overwrites")
	a, err := ReadFile(paths[0])
	require.NoError(t, err)
	b, err := ReadFile(paths[2])
	require.NoError(t, err)
	key, err := Combine([]Share{a, b}, testSerial)
	require.NoError(t, err)
	assert.Equal(t, testKey, key)

	require.NoError(t, os.Chmod(paths[1], 0o640))
	_, err = ReadFile(paths[1])
	require.Error(t, err)
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(paths[0], link))
	_, err = ReadFile(link)
	require.Error(t, err)
	raw, err := os.ReadFile(paths[2])
	require.NoError(t, err)
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, raw[:len(raw)-5], 0o600))
	_, err = ReadFile(short)
	require.ErrorIs(t, err, ErrEncoding)
}

// TestGoldenShare pins the file format with a fixed share.
func TestGoldenShare(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "share.hex"))
	require.NoError(t, err)
	b, err := hex.DecodeString(string(bytes.TrimSpace(raw)))
	require.NoError(t, err)
	s, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint8(2), s.K)
	assert.Equal(t, uint8(3), s.N)
	assert.Equal(t, uint8(1), s.ID)
	assert.Equal(t, testSerial, s.Serial)
	out, err := s.Marshal()
	require.NoError(t, err)
	assert.Equal(t, b, out)
}

// FuzzParse: Parse never panics, a parsed share re-encodes to the same
// bytes, and an error leaves no partial share.
func FuzzParse(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join("testdata", "share.hex"))
	if err != nil {
		f.Fatal(err)
	}
	b, err := hex.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:headerSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if s.K != 0 || s.Commit != nil {
				t.Fatalf("partial share with %v", err)
			}
			return
		}
		out, err := s.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encode: %v", err)
		}
		_, _ = Combine([]Share{s, s}, s.Serial) // never panics (duplicate ids refused)
	})
}
