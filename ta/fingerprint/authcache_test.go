package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// TestAuthenticateCacheFollowsWrites: AUTHENTICATE's cached group state
// (authStateCache) is used between payments and never outlives a write:
// after an enrollment the new finger matches and the HAT carries the new
// authenticator id; after a removal the removed finger is rejected; after
// a rejection (a lockout write) the failure is seen and cleared by the
// next match.
func TestAuthenticateCacheFollowsWrites(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid, sid = 9, 0x42
	f1, f2 := testFinger(21), testFinger(22)
	fid1 := b.enroll(t, gid, sid, f1)

	hatAuthID := func(evs []fpproto.Event) uint64 {
		t.Helper()
		last := evs[len(evs)-1]
		require.Equal(t, fpproto.MsgAuthenticated, last.Type, "%v", evs)
		tok, err := tokens.Parse(last.HAT)
		require.NoError(t, err)
		return tok.AuthenticatorID
	}
	cached := func() bool {
		_, _, ok := b.ta.authCache.get(gid, b.ta.Store.Generation())
		return ok
	}

	a1, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	assert.False(t, cached(), "nothing read yet")
	evs := b.authenticate(t, 1, gid, probe(f1, 1))
	assert.Equal(t, fid1, evs[len(evs)-1].FingerID)
	assert.Equal(t, a1, hatAuthID(evs))
	assert.True(t, cached(), "a clean match writes nothing: the next payment reads no store")
	evs = b.authenticate(t, 2, gid, probe(f1, 2))
	assert.Equal(t, fid1, evs[len(evs)-1].FingerID)
	assert.Equal(t, a1, hatAuthID(evs), "from the cache")

	fid2 := b.enroll(t, gid, sid, f2)
	assert.False(t, cached(), "an enrollment commits: the entry is stale")
	a2, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	require.NotEqual(t, a1, a2)
	evs = b.authenticate(t, 3, gid, probe(f2, 3))
	assert.Equal(t, fid2, evs[len(evs)-1].FingerID, "the new finger matches")
	assert.Equal(t, a2, hatAuthID(evs), "the new authenticator id")

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: fid1}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, fid1, gid, 0), b.next(t))
	assert.False(t, cached(), "a removal commits: the entry is stale")
	b.present(t, probe(f1, 4))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 4, GID: gid}))
	evs = b.until(t, func(e fpproto.Event) bool { return e.Type == fpproto.MsgAuthenticated || isError(e) })
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgAuthenticated, 0, gid, 0), evs[len(evs)-1], "the removed finger is rejected")
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	b.until(t, isError)
	assert.Equal(t, uint32(1), lockoutOf(t, b.ta, gid).Failed)

	evs = b.authenticate(t, 5, gid, probe(f2, 5))
	assert.Equal(t, fid2, evs[len(evs)-1].FingerID)
	assert.Zero(t, lockoutOf(t, b.ta, gid).Failed, "the recorded failure was seen (not a cached clean state) and cleared")
}

// TestAuthStateCacheBounds: an entry read while the store moved on is not
// kept, and the cache never holds more than maxCachedGroups groups.
func TestAuthStateCacheBounds(t *testing.T) {
	var c authStateCache
	c.put(1, 5, 5, authState{authID: 7}, []candidate{})
	st, _, ok := c.get(1, 5)
	require.True(t, ok)
	assert.Equal(t, uint64(7), st.authID)
	_, _, ok = c.get(1, 6)
	assert.False(t, ok, "another generation")
	c.put(1, 6, 7, authState{}, nil)
	_, _, ok = c.get(1, 6)
	assert.False(t, ok, "read while a write committed: dropped")
	for gid := range uint32(3 * maxCachedGroups) {
		c.put(gid, 9, 9, authState{}, []candidate{})
		assert.LessOrEqual(t, len(c.m), maxCachedGroups)
	}
}
