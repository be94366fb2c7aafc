package gatekeeper

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

// FuzzSessionInvoke drives the command dispatcher (docs/protocol.md §3) with
// arbitrary command ids, parameter types, values, capacities and bytes, as a
// hostile REE client can: every call ends with TEEC_SUCCESS or a typed TEEC
// result other than GENERIC (never a panic), the parameter types are left
// alone (rpc.TASession contract), and a VERIFY answered STATUS_OK always
// carries a PASSWORD HAT for the requested challenge under Keymaster's key.
func FuzzSessionInvoke(f *testing.F) {
	d := newDevice(f)
	ta := d.ready(f)
	s, err := ta.OpenSession(context.Background(), &tee.Params{})
	require.NoError(f, err)
	f.Cleanup(s.Close)
	mac, err := tokens.NewMAC(tokens.HMACSHA256, d.hatKey)
	require.NoError(f, err)

	pw := []byte("pw\x00pw")
	e := enroll(f, ta, 1, pw)  // verified by the seeds
	e3 := enroll(f, ta, 3, pw) // re-enrolled by a seed
	enrollPayload := gkproto.EnrollPayload{DesiredPassword: pw}.Marshal()
	reenrollPayload := gkproto.EnrollPayload{CurrentHandle: e3.Handle, CurrentPassword: pw, DesiredPassword: pw}.Marshal()
	verifyPayload := gkproto.VerifyPayload{Handle: e.Handle, Password: pw}.Marshal()

	// cmd, types (one byte per parameter, mod 7), a, b, capacity of output memrefs, memref bytes
	f.Add(uint32(gkproto.CmdEnroll), []byte{3, 4, 5, 2}, uint32(2), uint32(0), uint8(gkproto.HandleSize), enrollPayload)
	f.Add(uint32(gkproto.CmdEnroll), []byte{3, 4, 5, 2}, uint32(3), uint32(0), uint8(gkproto.HandleSize), reenrollPayload)
	f.Add(uint32(gkproto.CmdEnroll), []byte{3, 4, 5, 2}, uint32(1), uint32(0), uint8(gkproto.HandleSize-1), enrollPayload)
	f.Add(uint32(gkproto.CmdVerify), []byte{3, 3, 4, 5}, uint32(1), uint32(7), uint8(tokens.Size), verifyPayload)
	f.Add(uint32(gkproto.CmdVerify), []byte{3, 3, 4, 5}, uint32(1), uint32(7), uint8(tokens.Size-1), verifyPayload)
	f.Add(uint32(gkproto.CmdVerify), []byte{3, 3, 4, 5}, uint32(1), uint32(7), uint8(tokens.Size), verifyPayload[:len(verifyPayload)-1])
	f.Add(uint32(gkproto.CmdDeleteUser), []byte{3}, uint32(9), uint32(0), uint8(0), []byte(nil))
	f.Add(uint32(gkproto.CmdDeleteAllUsers), []byte{2}, uint32(0), uint32(0), uint8(0), []byte(nil))
	f.Add(uint32(gkproto.CmdSetAuthTokenKey), []byte{4}, uint32(0), uint32(0), uint8(0), d.keyEnvelope(f))
	f.Add(uint32(gkproto.CmdSetAuthTokenKey), []byte{4}, uint32(0), uint32(0), uint8(0), make([]byte, 109))
	f.Add(uint32(0x77), []byte{}, uint32(0), uint32(0), uint8(0), []byte(nil))

	f.Fuzz(func(t *testing.T, cmd uint32, types []byte, a, b uint32, capacity uint8, data []byte) {
		p := tatest.FuzzParams(types, a, b, data, uint32(capacity))
		// VERIFY p1 carries the challenge, a = low, b = high (§3.1).
		challenge := uint64(p[1].A) | uint64(p[1].B)<<32
		if err := tatest.InvokeHostile(t, s, cmd, &p, 10*time.Second); err != nil {
			require.NotEqual(t, tee.ResultGeneric, tee.ResultOf(err), "untyped failure: %v", err)
			return
		}
		if gkproto.Command(cmd) == gkproto.CmdVerify && gkproto.Status(int32(p[0].A)) == gkproto.StatusOK {
			_, verr := tokens.NewVerifier(mac).WithChallenge(challenge).
				WithAuthenticatorTypes(tokens.AuthPassword).Verify(p[3].Data)
			require.NoError(t, verr, "STATUS_OK without a valid PASSWORD HAT for the challenge")
		}
	})
}
