package attack

import (
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// TestSeedsCoverCommands: the fuzzer starts from every command each TA
// (and the sensor endpoint) implements.
func TestSeedsCoverCommands(t *testing.T) {
	tests := []struct {
		role tee.Role
		want []uint32
	}{
		{tee.RoleKeymaster, []uint32{uint32(kmproto.CmdGenerateKey), uint32(kmproto.CmdBegin), uint32(kmproto.CmdUpdate), uint32(kmproto.CmdFinish), uint32(kmproto.CmdAbort), uint32(kmproto.CmdGetAuthTokenKey)}},
		{tee.RoleGatekeeper, []uint32{uint32(gkproto.CmdEnroll), uint32(gkproto.CmdVerify), uint32(gkproto.CmdDeleteUser), uint32(gkproto.CmdSetAuthTokenKey)}},
		{tee.RoleFingerprint, []uint32{uint32(fpproto.CmdPreEnroll), uint32(fpproto.CmdEnroll), uint32(fpproto.CmdPostEnroll), uint32(fpproto.CmdGetAuthenticatorID),
			uint32(fpproto.CmdCancel), uint32(fpproto.CmdEnumerate), uint32(fpproto.CmdRemove), uint32(fpproto.CmdSetActiveGroup), uint32(fpproto.CmdAuthenticate),
			uint32(fpproto.CmdNextEvent), uint32(fpproto.CmdResetLockout), uint32(fpproto.CmdFetchOutbox), uint32(fpproto.CmdSetAuthTokenKey)}},
		{tee.RolePayment, []uint32{uint32(payproto.CmdDeliver), uint32(payproto.CmdGetDeviceCert), uint32(payproto.CmdCreateAppKey), uint32(payproto.CmdCreateSceneKey),
			uint32(payproto.CmdGetCert), uint32(payproto.CmdBeginPayment), uint32(payproto.CmdSignPayment), uint32(payproto.CmdDeleteKey), uint32(payproto.CmdSetAuthTokenKey)}},
		{"", []uint32{uint32(sensorproto.CmdPresent), uint32(sensorproto.CmdAcquired), uint32(sensorproto.CmdNoFinger), uint32(sensorproto.CmdFault), uint32(sensorproto.CmdSetFault),
			uint32(sensorproto.CmdSetLatency), uint32(sensorproto.CmdReset), uint32(sensorproto.CmdStatus)}},
	}
	for _, tc := range tests {
		seeds := seedsFor(tc.role, mrand.New(mrand.NewPCG(1, 2)))
		var got []uint32
		for _, s := range seeds {
			got = append(got, s.cmd)
			f := wire.Frame{Op: wire.OpInvoke, RequestID: 1, Session: 1, Command: s.cmd, Params: s.params}
			b, err := wire.AppendFrame(nil, &f)
			require.NoError(t, err, "%s command %#x", tc.role, s.cmd)
			_, err = wire.DecodeFrame(b)
			require.NoError(t, err, "%s command %#x", tc.role, s.cmd)
		}
		assert.ElementsMatch(t, tc.want, got, "role %q", tc.role)
	}
}

// TestMutatorFrames: the mutator's frames are what they claim: frames
// meant to be answered carry a length prefix consistent with their size
// (so §1.8 obliges the host to answer), frames meant to make the host hang
// up carry an out-of-range one, and every strategy occurs.
func TestMutatorFrames(t *testing.T) {
	for _, role := range []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment, ""} {
		rng := mrand.New(mrand.NewPCG(7, 9))
		m := &mutator{rng: rng, uuid: tee.UUIDKeymaster, seeds: seedsFor(role, rng)}
		kinds := map[string]int{}
		for range 3000 {
			ff := m.next(1)
			kinds[ff.kind]++
			require.GreaterOrEqual(t, len(ff.b), 1)
			switch {
			case ff.closes:
				_, err := wire.FrameLen(ff.b)
				require.ErrorIs(t, err, wire.ErrFrameLength, "%s: %x", ff.kind, ff.b)
				assert.False(t, ff.partial)
			case ff.partial:
				n, err := wire.FrameLen(append(ff.b, make([]byte, 4)...))
				if err == nil {
					assert.Less(t, len(ff.b), n, "a cut frame is shorter than its prefix says")
				}
			default:
				n, err := wire.FrameLen(ff.b)
				require.NoError(t, err, "%s: %x", ff.kind, ff.b)
				require.Equal(t, len(ff.b), n, "%s", ff.kind)
				require.LessOrEqual(t, len(ff.b), wire.LengthLen+wire.MaxFrameLen)
			}
		}
		for _, k := range []string{"mutated", "bad param type", "truncated fields", "trailing bytes", "extreme field",
			"header", "random body", "bad length", "cut on the wire", "maximum size", "well-formed"} {
			assert.Positive(t, kinds[k], "role %q: no %q frames in %v", role, k, kinds)
		}
	}
}

// TestMutatorDeterministic: a seed reproduces a run.
func TestMutatorDeterministic(t *testing.T) {
	gen := func() [][]byte {
		rng := mrand.New(mrand.NewPCG(3, 4))
		m := &mutator{rng: rng, uuid: tee.UUIDPayment, seeds: seedsFor(tee.RolePayment, rng)}
		var out [][]byte
		for range 200 {
			out = append(out, m.next(5).b)
		}
		return out
	}
	assert.True(t, slices.EqualFunc(gen(), gen(), slices.Equal))
}
