package kmproto

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
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
	gen := wire.Frame{Op: wire.OpInvoke, RequestID: 2, Session: 1, Command: uint32(CmdGenerateKey),
		Params: tee.Params{tee.MemrefIn(enc), tee.MemrefOut(uint32(BlobSize(len(enc)))), tee.MemrefOut(PublicKeySize)}}
	assert.Equal(t, testkit.ReadHex(t, filepath.Join("testdata", "frame_generate_key.hex")), mustDecodeHex(t, frameHex(t, &gen)))

	getKey := wire.Frame{Op: wire.OpInvoke, RequestID: 3, Session: 1, Command: uint32(CmdGetAuthTokenKey),
		Params: tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:]), tee.MemrefOut(AuthTokenKeyEnvelopeSize)}}
	assert.Equal(t, testkit.ReadHex(t, filepath.Join("testdata", "frame_get_auth_token_key.hex")), mustDecodeHex(t, frameHex(t, &getKey)))

	// BEGIN refused with KEY_USER_NOT_AUTHENTICATED: result 0x4B4D001A,
	// types echoed, the VALUE_OUTPUT handle left 0, no memref bytes.
	refused := wire.Frame{Op: wire.OpResponse, RequestID: 4, Session: 1,
		Result: ErrorKeyUserNotAuthenticated.Result(), Origin: tee.OriginTrustedApp,
		Params: tee.Params{{Type: tee.ParamMemrefInput}, {Type: tee.ParamValueInput}, {Type: tee.ParamMemrefInput}, tee.ValueOut()}}
	assert.Equal(t, testkit.ReadHex(t, filepath.Join("testdata", "frame_begin_refused.hex")), mustDecodeHex(t, frameHex(t, &refused)))

	// ABORT as the Go client sends it: the handle's low half in a.
	var rec recordInvoker
	require.NoError(t, Abort{Handle: 0x0123456789abcdef}.Execute(context.Background(), &rec))
	abort := wire.Frame{Op: wire.OpInvoke, RequestID: 5, Session: 1, Command: rec.cmd, Params: rec.params}
	assert.Equal(t, testkit.ReadHex(t, filepath.Join("testdata", "frame_abort.hex")), mustDecodeHex(t, frameHex(t, &abort)))
	assert.Equal(t, uint64(0x0123456789abcdef), HandleOf(rec.params[0]), "HandleOf inverts HandleParam")
}

// recordInvoker records the command a client sends and answers success.
type recordInvoker struct {
	cmd    uint32
	params tee.Params
}

func (r *recordInvoker) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	r.cmd, r.params = cmd, *p
	return nil
}

func mustDecodeHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
