package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// TestBorrowedParamsNotRetained: the fingerprint TA borrows its memrefs
// from the host's pooled buffers (rpc.ParamBorrower; GPD_SPE_010 §4.9), so
// a HAT or path it kept past ENROLL, SET_ACTIVE_GROUP or RESET_LOCKOUT —
// in particular into the enrollment that runs on after ENROLL returns —
// would be overwritten by the next command's bytes (and by the poison
// under -race). Two users enroll with their own password HATs, with
// other commands in between; each group stays bound to its own SID.
func TestBorrowedParamsNotRetained(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	require.True(t, b.ta.BorrowsParams())
	var _ rpc.ParamBorrower = b.ta

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: 1, Path: t.TempDir()}))
	const sid1, sid2 = 0x1111, 0x2222
	f1, f2 := testFinger(1), testFinger(2)
	fid1 := b.enroll(t, 1, sid1, f1)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: 2, Path: t.TempDir() + "/."}))
	fid2 := b.enroll(t, 2, sid2, f2)

	for _, tc := range []struct {
		gid uint32
		sid uint64
		fid uint32
		f   []matcher.Minutia
	}{{1, sid1, fid1, f1}, {2, sid2, fid2, f2}} {
		evs := b.authenticate(t, uint64(tc.gid)<<8, tc.gid, probe(tc.f, 9))
		e := evs[len(evs)-1]
		require.Equal(t, fpproto.MsgAuthenticated, e.Type, "gid %d: %v", tc.gid, evs)
		assert.Equal(t, tc.fid, e.FingerID)
		tok, err := tokens.Parse(e.HAT)
		require.NoError(t, err)
		assert.Equal(t, tc.sid, tok.UserID, "gid %d is bound to the SID of its own enrollment HAT", tc.gid)
		require.NoError(t, d.mac.Check(&tok))
	}
	// RESET_LOCKOUT checks the HAT it is sent, not an earlier one.
	for _, tc := range []struct {
		gid    uint32
		sid    uint64
		reason fpproto.Reason
	}{{1, sid2, fpproto.ReasonHATUser}, {1, sid1, fpproto.ReasonNone}, {2, sid1, fpproto.ReasonHATUser}, {2, sid2, fpproto.ReasonNone}} {
		res, err := fpproto.ResetLockout{GID: tc.gid, HAT: d.passwordHAT(0, tc.sid)}.Execute(ctx(t), b.cmd)
		require.NoError(t, err)
		assert.Equal(t, tc.reason, res.Reason, "gid %d, HAT of %#x", tc.gid, tc.sid)
	}
}
