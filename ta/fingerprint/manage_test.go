package fingerprint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (b *bench) authenticatorID(t *testing.T) uint64 {
	t.Helper()
	id, err := GetAuthenticatorID{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	return id
}

// TestAuthenticatorIDRules: 0 with nothing enrolled; a new random non-zero
// value on every enrollment; unchanged when one of several templates is
// removed; 0 when the last goes (remove all); fresh again on the next
// enrollment. GET_AUTHENTICATOR_ID answers for the active group.
func TestAuthenticatorIDRules(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid = 10
	assert.Zero(t, b.authenticatorID(t), "no active group")
	require.Equal(t, SysOK, b.do(t, SetActiveGroup{GID: gid, Path: t.TempDir()}))
	assert.Zero(t, b.authenticatorID(t), "nothing enrolled")

	f1 := b.enroll(t, gid, 1, testFinger(11))
	a1 := b.authenticatorID(t)
	require.NotZero(t, a1)
	f2 := b.enroll(t, gid, 1, testFinger(12))
	a2 := b.authenticatorID(t)
	require.NotZero(t, a2)
	assert.NotEqual(t, a1, a2, "changes on every enrollment")
	b.enroll(t, gid+1, 1, testFinger(13))
	assert.Equal(t, a2, b.authenticatorID(t), "another group's enrollment does not touch it")

	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: f1}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, f1, gid, 0), b.next(t))
	assert.Equal(t, a2, b.authenticatorID(t), "unchanged by a single removal")

	// The id survives a TA restart.
	b.ta.Close()
	b = d.serve(t, d.open(t))
	require.Equal(t, SysOK, b.do(t, SetActiveGroup{GID: gid, Path: t.TempDir()}))
	assert.Equal(t, a2, b.authenticatorID(t))
	require.NoError(t, SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))

	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: f2}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, f2, gid, 0), b.next(t))
	assert.Zero(t, b.authenticatorID(t), "0 once the last template is gone")

	b.enroll(t, gid, 1, testFinger(14))
	a3 := b.authenticatorID(t)
	assert.NotZero(t, a3)
	assert.NotEqual(t, a1, a3)
	assert.NotEqual(t, a2, a3)
	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: 0}))
	b.next(t)
	assert.Zero(t, b.authenticatorID(t), "remove all: 0")
}

// TestEnumerateRemove: ENUMERATE reports the active group's templates with
// remaining counting down, or (0, gid, 0); REMOVE fid reports (fid, gid, 0)
// whether or not it was enrolled; REMOVE 0 removes all with a countdown, or
// reports (0, gid, 0) when there were none (VTS EnumerateTest,
// RemoveFingerprintTest, RemoveAllFingerprintsTest).
func TestEnumerateRemove(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid = 99
	require.Equal(t, SysOK, b.do(t, SetActiveGroup{GID: gid, Path: t.TempDir()}))
	require.Equal(t, SysOK, b.do(t, Enumerate{}))
	assert.Equal(t, fingerEvent(MsgTemplateEnumerating, 0, gid, 0), b.next(t))
	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: 1}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, 1, gid, 0), b.next(t))
	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: 0}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, 0, gid, 0), b.next(t))
	b.quiet(t)

	var fids []uint32
	for i := range 3 {
		fids = append(fids, b.enroll(t, gid, 1, testFinger(uint64(20+i))))
	}
	other := b.enroll(t, gid+1, 1, testFinger(30))
	got, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	require.ElementsMatch(t, fids, got)

	require.Equal(t, SysOK, b.do(t, Enumerate{}))
	for i, fid := range got {
		assert.Equal(t, fingerEvent(MsgTemplateEnumerating, fid, gid, uint32(2-i)), b.next(t))
	}
	b.quiet(t)

	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: got[1]}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, got[1], gid, 0), b.next(t))
	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: got[1]}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, got[1], gid, 0), b.next(t), "idempotent")
	require.Equal(t, SysOK, b.do(t, Remove{GID: gid, FID: 0}))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, got[0], gid, 1), b.next(t))
	assert.Equal(t, fingerEvent(MsgTemplateRemoved, got[2], gid, 0), b.next(t))
	b.quiet(t)
	left, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	assert.Empty(t, left)
	left, err = b.ta.Fingers(ctx(t), gid+1)
	require.NoError(t, err)
	assert.Equal(t, []uint32{other}, left, "other groups untouched")
	assert.Empty(t, templates(t, b.ta, gid))
}

// TestSetActiveGroupPath: the 2.1 default wrapper's checks (non-empty,
// shorter than PATH_MAX, access(W_OK)) plus absolute, a directory, no NUL,
// not "/" — SYS_EINVAL, active group unchanged.
func TestSetActiveGroupPath(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name string
		path string
		want RequestStatus
	}{
		{"writable directory", dir, SysOK},
		{"trailing slash", dir + "/", SysOK},
		{"empty (VTS SetActiveGroupNullTest)", "", SysEINVAL},
		{"root (VTS SetActiveGroupUnwritableTest)", "/", SysEINVAL},
		{"root, spelled //", "//", SysEINVAL},
		{"relative", "data/fp", SysEINVAL},
		{"missing", filepath.Join(dir, "missing"), SysEINVAL},
		{"a file", file, SysEINVAL},
		{"NUL inside", dir + "\x00/x", SysEINVAL},
		{"PATH_MAX long", "/" + strings.Repeat("a", MaxPathLen-1), SysEINVAL},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		tests = append(tests, struct {
			name string
			path string
			want RequestStatus
		}{"read-only directory", ro, SysEINVAL})
	}
	require.Equal(t, SysOK, b.do(t, SetActiveGroup{GID: 1, Path: dir}))
	b.enroll(t, 1, 1, testFinger(50))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gid := uint32(2) // a refused path must leave group 1 active
			if tc.want == SysOK {
				gid = 1
			}
			assert.Equal(t, tc.want, b.do(t, SetActiveGroup{GID: gid, Path: tc.path}))
			assert.NotZero(t, b.authenticatorID(t), "the active group is still 1")
		})
	}
}

// TestBusy: while an operation runs, another ENROLL, AUTHENTICATE,
// ENUMERATE, REMOVE or SET_ACTIVE_GROUP is SYS_EBUSY and queues nothing;
// PRE_ENROLL and GET_AUTHENTICATOR_ID still answer.
func TestBusy(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	require.Equal(t, SysOK, b.do(t, Authenticate{OperationID: 1, GID: 1}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1))
	for _, req := range []statusRequest{
		Enroll{HAT: d.passwordHAT(1, 1), GID: 1},
		Authenticate{OperationID: 2, GID: 1},
		Enumerate{},
		Remove{GID: 1, FID: 0},
		SetActiveGroup{GID: 1, Path: t.TempDir()},
	} {
		assert.Equal(t, SysEBUSY, b.do(t, req), "%T", req)
	}
	b.quiet(t)
	_, err := PreEnroll{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	_, err = GetAuthenticatorID{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	require.Equal(t, SysOK, b.do(t, Cancel{}))
	assert.Equal(t, errorEvent(ErrorCanceled, 0, 0), b.next(t))
	require.Equal(t, SysOK, b.do(t, Enumerate{}), "idle again")
	b.next(t)
}
