package bio

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// FuzzParseAuthResult checks that ParseAuthResult never panics, returns
// nothing on error, and that what it accepts re-encodes to the same bytes.
func FuzzParseAuthResult(f *testing.F) {
	for _, r := range []AuthResult{goldenAuth, goldenAuthFail} {
		b, err := r.Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Add(make([]byte, AuthResultSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseAuthResult(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, AuthResult{}, r)
			return
		}
		out, err := r.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzParseFingerList: as FuzzParseAuthResult, for finger lists.
func FuzzParseFingerList(f *testing.F) {
	for _, l := range []FingerList{goldenList, {}, {FingerIDs: []uint32{1}}} {
		b, err := l.Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0, 0, 0, 1))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseFingerList(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, FingerList{}, l)
			return
		}
		out, err := l.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzSplitBatch checks that SplitBatch never panics, returns nil on error,
// and that the envelopes it returns concatenate back to its input.
func FuzzSplitBatch(f *testing.F) {
	s := newSender(f, tee.NewFakeClock(5))
	require.NoError(f, s.SetFingerList(0, 1, []uint32{1, 2}))
	require.NoError(f, s.SetAuthResult(0, 1, 42, Match{UserID: 1, AuthenticatorID: 1}))
	batch := AppendBatch(nil, s.Drain(0))
	f.Add(batch)
	f.Add(batch[:len(batch)-1])
	f.Add(append(append([]byte(nil), batch...), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		envs, err := SplitBatch(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Nil(t, envs)
			return
		}
		require.LessOrEqual(t, len(envs), MaxBatch)
		require.Equal(t, string(b), string(AppendBatch(nil, envs)))
	})
}
