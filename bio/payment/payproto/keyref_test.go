package payproto

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

var sceneRef = KeyRef{AppID: "com.example.wallet", Scene: "pay"}

func TestKeyRefCodec(t *testing.T) {
	for _, r := range []KeyRef{
		{AppID: "a"},
		sceneRef,
		{AppID: strings.Repeat("a", proof.MaxAppIDLen), Scene: strings.Repeat("s", proof.MaxSceneLen)},
	} {
		b, err := r.Marshal()
		require.NoError(t, err)
		require.Len(t, b, 4+len(r.AppID)+len(r.Scene))
		got, err := ParseKeyRef(b)
		require.NoError(t, err)
		assert.Equal(t, r, got)
	}
	good, err := sceneRef.Marshal()
	require.NoError(t, err)
	assert.Equal(t, []byte("\x00\x12com.example.wallet\x00\x03pay"), good, "docs/protocol.md §8.4 example")
	for _, b := range [][]byte{
		nil, {0}, {0, 0, 0, 0}, // app id length 0
		{0, 1, 'a'}, {0, 1, 'a', 0}, // truncated scene length
		{0, 1, 'a', 0, 1}, {0, 1, 'a', 0, 0, 'x'}, // scene truncated / trailing
		{0, 0x81}, {0, 1, 'a', 0, 0x41}, // over the bounds
		append(good, 0),
	} {
		r, err := ParseKeyRef(b)
		require.ErrorIs(t, err, ErrBadRequest, "%x", b)
		require.ErrorIs(t, err, tee.ErrBadParameters)
		assert.Equal(t, KeyRef{}, r)
	}
	for _, r := range []KeyRef{{}, {AppID: strings.Repeat("a", proof.MaxAppIDLen+1)}, {AppID: "a", Scene: strings.Repeat("s", proof.MaxSceneLen+1)}} {
		_, err := r.Marshal()
		require.ErrorIs(t, err, ErrBadRequest)
		require.ErrorIs(t, r.Check(), ErrBadRequest)
	}
}

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

// TestParseKeyRefCopies: a parsed KeyRef does not alias its input, so the
// payment TA may keep it after the borrowed memref it came from is reused
// (rpc.ParamBorrower); ParseSealPaymentInput's token and payload do alias
// theirs, as documented.
func TestParseKeyRefCopies(t *testing.T) {
	ref, err := sceneRef.Marshal()
	require.NoError(t, err)
	hat := make([]byte, tokens.Size)
	b := append(append(append([]byte(nil), ref...), hat...), "payload"...)
	r, gotHAT, payload, err := ParseSealPaymentInput(SealPaymentWithPassword, b)
	require.NoError(t, err)
	for i := range b {
		b[i] = 0xA5
	}
	assert.Equal(t, sceneRef, r)
	assert.Equal(t, bytes.Repeat([]byte{0xA5}, tokens.Size), gotHAT)
	assert.Equal(t, bytes.Repeat([]byte{0xA5}, len("payload")), payload)

	ref, err = sceneRef.Marshal()
	require.NoError(t, err)
	r, err = ParseKeyRef(ref)
	require.NoError(t, err)
	clear(ref)
	assert.Equal(t, sceneRef, r)
}
