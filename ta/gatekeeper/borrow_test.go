package gatekeeper_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TestBorrowedParamsNotRetained: Gatekeeper borrows its memrefs from the
// host's pooled buffers (rpc.ParamBorrower; GPD_SPE_010 §4.9), so a
// handle or password it kept past ENROLL or VERIFY would be overwritten by
// the next command's bytes (and by the poison under -race). Users
// enrolled one after the other, with different passwords of different
// lengths, verify with exactly their own password afterwards.
func TestBorrowedParamsNotRetained(t *testing.T) {
	s := serve(t)
	require.True(t, s.ta.BorrowsParams())
	var _ rpc.ParamBorrower = s.ta
	s.provision(t)
	ctx := testCtx(t)
	mac := s.mac(t)

	pw := map[uint32][]byte{1: []byte("first password"), 2: []byte("the second, longer password"), 3: []byte("3")}
	handles := map[uint32][]byte{}
	sids := map[uint32]uint64{}
	for _, uid := range []uint32{1, 2, 3} {
		e, err := gkproto.Enroll{UID: uid, DesiredPassword: pw[uid]}.Execute(ctx, s.session)
		require.NoError(t, err)
		require.Equal(t, gkproto.StatusOK, e.Status)
		handles[uid], sids[uid] = e.Handle, e.SecureUserID
	}
	verify := func(uid uint32, handle, password []byte, challenge uint64) gkproto.VerifyResponse {
		t.Helper()
		v, err := gkproto.Verify{UID: uid, Challenge: challenge, Handle: handle, Password: password}.Execute(ctx, s.session)
		require.NoError(t, err)
		return v
	}
	for _, uid := range []uint32{3, 1, 2} {
		v := verify(uid, handles[uid], pw[uid], uint64(uid)<<40|7)
		require.Equal(t, gkproto.StatusOK, v.Status, "uid %d", uid)
		assert.Equal(t, sids[uid], v.Token.UserID)
		assert.Equal(t, uint64(uid)<<40|7, v.Token.Challenge)
		require.NoError(t, mac.Check(&v.Token))
	}
	// Another user's password, of another length, is still wrong.
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(1, handles[1], pw[2], 1).Status)

	// A trusted re-enroll keeps the SID; the old handle is then refused.
	e, err := gkproto.Enroll{UID: 1, CurrentHandle: handles[1], CurrentPassword: pw[1], DesiredPassword: []byte("renewed")}.Execute(ctx, s.session)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, e.Status)
	assert.Equal(t, sids[1], e.SecureUserID)
	assert.Equal(t, gkproto.StatusOK, verify(1, e.Handle, []byte("renewed"), 2).Status)
	assert.Equal(t, gkproto.ErrorGeneralFailure, verify(1, handles[1], pw[1], 3).Status)
	assert.Equal(t, gkproto.StatusOK, verify(2, handles[2], pw[2], 4).Status)
}
