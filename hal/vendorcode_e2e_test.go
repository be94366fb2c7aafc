package hal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/hal/hidl"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
)

// TestEnrollRefusalVendorCodesAcrossProcesses: on a real stack (TAs and
// the HAL as processes), an enroll whose HAT the fingerprint TA refuses
// reaches the gRPC client as onError(ERROR_UNABLE_TO_PROCESS) — the error
// AIDL ISession.enroll mandates — with the TA's reason in vendorCode
// (docs/protocol.md §10.4.1), one row per reason the REE can provoke.
func TestEnrollRefusalVendorCodesAcrossProcesses(t *testing.T) {
	dev := bootDevice(t, simdev.RestartPolicy{})
	ctx := testCtx(t)
	gk := dev.session(t, tee.RoleGatekeeper)
	password := []byte("1234")
	gkr, err := gkproto.Enroll{UID: 0, DesiredPassword: password}.Execute(ctx, gk)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, gkr.Status)
	require.Equal(t, hidl.SysOK, must(dev.client.SetActiveGroup(ctx, gid, t.TempDir()))(t))
	cbs := dev.notify(t)

	// passwordHAT is Gatekeeper's genuine PASSWORD HAT on challenge.
	passwordHAT := func(t *testing.T, challenge uint64) []byte {
		vr, err := gkproto.Verify{UID: 0, Challenge: challenge, Handle: gkr.Handle, Password: password}.Execute(ctx, gk)
		require.NoError(t, err)
		require.Equal(t, gkproto.StatusOK, vr.Status)
		return vr.Token.Marshal()
	}
	cases := []struct {
		name   string
		hat    func(t *testing.T) []byte // called after PRE_ENROLL, when pre is true
		pre    bool
		reason fpproto.Reason
	}{
		{"mac", func(t *testing.T) []byte {
			h := passwordHAT(t, must(dev.client.PreEnroll(ctx))(t))
			h[len(h)-1] ^= 1
			return h
		}, true, fpproto.ReasonHATMAC},
		{"version", func(t *testing.T) []byte {
			h := passwordHAT(t, must(dev.client.PreEnroll(ctx))(t))
			h[0] = 1
			return h
		}, true, fpproto.ReasonHATVersion},
		{"another challenge", func(t *testing.T) []byte {
			c := must(dev.client.PreEnroll(ctx))(t)
			return passwordHAT(t, c+1)
		}, true, fpproto.ReasonHATChallenge},
		{"no outstanding challenge", func(t *testing.T) []byte {
			h := passwordHAT(t, must(dev.client.PreEnroll(ctx))(t))
			require.Equal(t, hidl.SysOK, must(dev.client.PostEnroll(ctx))(t))
			return h
		}, false, fpproto.ReasonHATChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hat := tc.hat(t)
			require.Equal(t, hidl.SysOK, must(dev.client.Enroll(ctx, hat, gid, 60))(t))
			last, seen, err := cbs.WaitFor(within(t, 10*time.Second), hidl.Ends)
			require.NoError(t, err)
			assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorUnableToProcess, VendorCode: tc.reason.VendorCode()}, last,
				"after %v", seen)
			assert.NotZero(t, tc.reason.VendorCode())
		})
	}
}
