package fingerprint

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

// FuzzSessionInvoke drives the command dispatcher with arbitrary command
// ids, parameter types, values and bytes: every call must end with
// TEEC_SUCCESS or a TEEC result (never a panic), leave the parameter types
// alone (rpc.TASession contract), and leave the TA usable.
func FuzzSessionInvoke(f *testing.F) {
	d := newDevice(f)
	ta := d.open(f)
	require.NoError(f, ta.SetAuthTokenKey(context.Background(), d.keyEnvelope(f)))
	s, err := ta.OpenSession(context.Background(), &tee.Params{})
	require.NoError(f, err)
	f.Cleanup(s.Close)

	hat := d.passwordHAT(1, 2)
	f.Add(uint32(fpproto.CmdEnroll), []byte{1, 5, 2, 0}, uint32(1), uint32(3), hat)
	f.Add(uint32(fpproto.CmdSetActiveGroup), []byte{1, 5, 2, 0}, uint32(1), uint32(0), []byte(f.TempDir()))
	f.Add(uint32(fpproto.CmdNextEvent), []byte{3, 2, 2, 6}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(fpproto.CmdResetLockout), []byte{1, 5, 2, 0}, uint32(1), uint32(0), hat)
	f.Add(uint32(fpproto.CmdFetchOutbox), []byte{6, 2, 0, 0}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(fpproto.CmdSetAuthTokenKey), []byte{5, 0, 0, 0}, uint32(0), uint32(0), d.keyEnvelope(f))
	f.Add(uint32(fpproto.CmdAuthenticate), []byte{1, 1, 2, 0}, uint32(7), uint32(9), []byte(nil))
	f.Add(uint32(fpproto.CmdRemove), []byte{1, 2, 0, 0}, uint32(1), uint32(0), []byte(nil))
	f.Add(uint32(0xFFFF), []byte{0, 0, 0, 0}, uint32(0), uint32(0), []byte(nil))
	f.Fuzz(func(t *testing.T, cmd uint32, types []byte, a, b uint32, data []byte) {
		p := tatest.FuzzParams(types, a, b, data, b%(2*tokens.Size))
		if fpproto.Command(cmd) == fpproto.CmdNextEvent {
			p[0].A %= 2 // do not block the fuzzer
		}
		_ = tatest.InvokeHostile(t, s, cmd, &p, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ta.Busy() {
			ta.Cancel()
		}
		for {
			if e, _ := ta.NextEvent(ctx, 0); e.Type == fpproto.MsgNone {
				break
			}
		}
		_, err = ta.PreEnroll()
		require.NoError(t, err, "the TA stays usable")
	})
}
