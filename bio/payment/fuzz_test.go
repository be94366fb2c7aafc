package payment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// FuzzParseKeyRef: never panics, nothing on error, canonical on success.
func FuzzParseKeyRef(f *testing.F) {
	for _, r := range []KeyRef{sceneRef, {AppID: "a"}} {
		b, err := r.Marshal()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseKeyRef(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRequest)
			require.Equal(t, KeyRef{}, r)
			return
		}
		out, err := r.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzParseKeyRecord: the decoder of sealed key rows never panics, returns
// nothing on error and re-encodes what it accepts.
func FuzzParseKeyRecord(f *testing.F) {
	r := sampleRecord(f)
	b, err := r.marshal()
	require.NoError(f, err)
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{recordVersion, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseKeyRecord(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorruptRecord)
			require.Equal(t, keyRecord{}, got)
			return
		}
		out, err := got.marshal()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

// FuzzDeliver feeds arbitrary bytes to DELIVER through the session (the
// TA's whole input path for envelopes): it must never panic, and every
// rejection must carry a specific TEEC code (BAD_FORMAT, ACCESS_DENIED,
// SECURITY, ...), never a generic failure.
func FuzzDeliver(f *testing.F) {
	d := newDevice(f)
	ta := d.open(f)
	s := session{ta}
	f.Add(d.match(f, 0, 1, 1, 5))
	f.Add(d.fingerList(f, 0, 1, 1, 2))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := tee.Params{tee.MemrefIn(b), tee.ValueOut()}
		err := s.Invoke(context.Background(), CmdDeliver, &p)
		if err == nil {
			return // a seed: genuine the first time
		}
		code := tee.ResultOf(err)
		require.NotEqual(t, tee.ResultGeneric, code, "%v", err)
	})
}
