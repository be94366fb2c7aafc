package keymaster

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// The worked examples of docs/protocol.md §2.8, checked against the frame
// codec so the document cannot drift from the implementation.

func frameHex(t *testing.T, f *wire.Frame) string {
	t.Helper()
	b, err := wire.AppendFrame(nil, f)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func TestWorkedExamples(t *testing.T) {
	enc, err := sm2KeyParams().Marshal()
	require.NoError(t, err)
	gen := wire.Frame{Op: wire.OpInvoke, RequestID: 2, Session: 1, Command: CmdGenerateKey,
		Params: tee.Params{tee.MemrefIn(enc), tee.MemrefOut(uint32(blobSize(len(enc)))), tee.MemrefOut(PublicKeySize)}}
	assert.Equal(t, readHex(t, "frame_generate_key.hex"), mustDecodeHex(t, frameHex(t, &gen)))

	getKey := wire.Frame{Op: wire.OpInvoke, RequestID: 3, Session: 1, Command: CmdGetAuthTokenKey,
		Params: tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:]), tee.MemrefOut(AuthTokenKeyEnvelopeSize)}}
	assert.Equal(t, readHex(t, "frame_get_auth_token_key.hex"), mustDecodeHex(t, frameHex(t, &getKey)))

	// BEGIN refused with KEY_USER_NOT_AUTHENTICATED: result 0x4B4D001A,
	// types echoed, the VALUE_OUTPUT handle left 0, no memref bytes.
	refused := wire.Frame{Op: wire.OpResponse, RequestID: 4, Session: 1,
		Result: ErrorKeyUserNotAuthenticated.Result(), Origin: tee.OriginTrustedApp,
		Params: tee.Params{{Type: tee.ParamMemrefInput}, {Type: tee.ParamValueInput}, {Type: tee.ParamMemrefInput}, tee.ValueOut()}}
	assert.Equal(t, readHex(t, "frame_begin_refused.hex"), mustDecodeHex(t, frameHex(t, &refused)))
}

func mustDecodeHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
