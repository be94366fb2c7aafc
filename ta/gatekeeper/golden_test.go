package gatekeeper

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/verify_example.txt")

// captureInvoker runs the request through a TA session and records the
// params as sent and as answered.
type captureInvoker struct {
	s         rpc.TASession
	sent, got tee.Params
	err       error
}

func (c *captureInvoker) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	c.sent = clone(*p)
	c.err = c.s.Invoke(ctx, cmd, p)
	c.got = clone(*p)
	return c.err
}

func clone(p tee.Params) tee.Params {
	for i := range p {
		p[i].Data = bytes.Clone(p[i].Data)
	}
	return p
}

// TestVerifyWorkedExample produces the VERIFY request and response frames of
// docs/protocol.md §3 (worked example) from the Client and the TA, and
// compares them with testdata/verify_example.txt: the golden handle of
// testdata/handle_golden.txt enrolled for uid 10001, password "ABC\0DEF",
// challenge 0x0123456789abcdef, boot clock 123456789 ms, auth-token key 32 ×
// 0x5a, session 1, request id 7.
func TestVerifyWorkedExample(t *testing.T) {
	g := golden(t)
	d := newDevice(t)
	d.StorageKey = testkit.Unhex(t, g["storage_key"])
	d.hatKey = bytes.Repeat([]byte{0x5a}, 32)
	ta := d.ready(t)
	handle := testkit.Unhex(t, g["handle"])
	h, err := gkproto.ParseHandle(handle)
	require.NoError(t, err)
	require.NoError(t, ta.Store.Tx(context.Background(), func(tx *store.Tx) error { return putUser(tx, 10001, &h) }))
	d.Clock.Set(123456789)

	s, err := ta.OpenSession(context.Background(), &tee.Params{})
	require.NoError(t, err)
	inv := &captureInvoker{s: s}
	rsp, err := gkproto.Verify{UID: 10001, Challenge: 0x0123456789abcdef, Handle: handle, Password: testkit.Unhex(t, g["password"])}.
		Execute(context.Background(), inv)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, rsp.Status)

	req, err := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpInvoke, RequestID: 7, Session: 1, Command: uint32(gkproto.CmdVerify), Params: inv.sent})
	require.NoError(t, err)
	resp, err := wire.AppendFrame(nil, &wire.Frame{Op: wire.OpResponse, RequestID: 7, Session: 1,
		Result: tee.Success, Origin: tee.OriginTrustedApp, Params: inv.got})
	require.NoError(t, err)
	got := "request " + hex.EncodeToString(req) + "\nresponse " + hex.EncodeToString(resp) + "\n"

	const path = "testdata/verify_example.txt"
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(got))

	// The response decodes back through the client-side codec.
	f, err := wire.DecodeFrame(resp)
	require.NoError(t, err)
	require.Equal(t, inv.got[3].Data, f.Params[3].Data)
}
