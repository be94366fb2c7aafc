package profile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireProfile checks that path holds a pprof profile, 0600.
func requireProfile(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, Check(path))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestRunWritesCPUProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof")
	sum := 0
	require.NoError(t, Run(dir, "fingerprint", func() error {
		for i := range 1_000_000 {
			sum += i
		}
		return nil
	}))
	requireProfile(t, CPUPath(dir, "fingerprint"))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}

func TestRunKeepsFnError(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("boom")
	err := Run(dir, "hal", func() error { return boom })
	require.ErrorIs(t, err, boom)
	requireProfile(t, CPUPath(dir, "hal"))
}

func TestNoDirNoProfile(t *testing.T) {
	called := false
	require.NoError(t, Run("", "hal", func() error { called = true; return nil }))
	assert.True(t, called)
}

func TestBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../x", "a/b"} {
		t.Run(name, func(t *testing.T) {
			err := Run(t.TempDir(), name, func() error { t.Fatal("fn ran"); return nil })
			require.ErrorIs(t, err, ErrBadName)
		})
	}
}

func TestDir(t *testing.T) {
	t.Setenv(DirEnv, "/from/env")
	assert.Equal(t, "/flag", Dir("/flag"))
	assert.Equal(t, "/from/env", Dir(""))
}

func TestCheckRefuses(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("hello")},
		{"empty payload", gz(nil)},
		{"field 15", gz([]byte{0x78, 0x01})},
		{"wire type 5", gz([]byte{0x0d, 1, 2, 3, 4})},
		{"overrun", gz([]byte{0x0a, 0x05, 1})},
		{"truncated varint", gz([]byte{0x48, 0x80})},
		{"no sample_type", gz([]byte{0x48, 0x01})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.pprof")
			require.NoError(t, os.WriteFile(p, tc.data, 0o600))
			require.ErrorIs(t, Check(p), ErrNotProfile)
		})
	}
}

// FuzzTopLevelFields: the protobuf walk of Check either names only
// Profile fields (1–14) or refuses; never a panic, never a partial result.
func FuzzTopLevelFields(f *testing.F) {
	for _, s := range [][]byte{
		{}, {0x0a, 0x00}, {0x08, 0x01, 0x0a, 0x02, 0x08, 0x01}, {0x0a, 0x05, 0x00},
		{0x78, 0x01}, {0x0b}, {0x80}, bytes.Repeat([]byte{0xff}, 11),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := topLevelFields(b)
		if err != nil {
			require.Nil(t, fields)
			return
		}
		for n := range fields {
			require.True(t, n >= 1 && n <= 14, "field %d", n)
		}
	})
}
