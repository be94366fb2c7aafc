package fingerprint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

func (b *bench) authenticatorID(t *testing.T) uint64 {
	t.Helper()
	id, err := fpproto.GetAuthenticatorID{}.Execute(ctx(t), b.cmd)
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
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}))
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

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: f1}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, f1, gid, 0), b.next(t))
	assert.Equal(t, a2, b.authenticatorID(t), "unchanged by a single removal")

	// The id survives a TA restart.
	b.ta.Close()
	b = d.serve(t, d.open(t))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}))
	assert.Equal(t, a2, b.authenticatorID(t))
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(t)}.Execute(ctx(t), b.cmd))

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: f2}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, f2, gid, 0), b.next(t))
	assert.Zero(t, b.authenticatorID(t), "0 once the last template is gone")

	b.enroll(t, gid, 1, testFinger(14))
	a3 := b.authenticatorID(t)
	assert.NotZero(t, a3)
	assert.NotEqual(t, a1, a3)
	assert.NotEqual(t, a2, a3)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: 0}))
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
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enumerate{}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateEnumerating, 0, gid, 0), b.next(t))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: 1}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, 1, gid, 0), b.next(t))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: 0}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, 0, gid, 0), b.next(t))
	b.quiet(t)

	var fids []uint32
	for i := range 3 {
		fids = append(fids, b.enroll(t, gid, 1, testFinger(uint64(20+i))))
	}
	other := b.enroll(t, gid+1, 1, testFinger(30))
	got, err := b.ta.Fingers(ctx(t), gid)
	require.NoError(t, err)
	require.ElementsMatch(t, fids, got)

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enumerate{}))
	for i, fid := range got {
		assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateEnumerating, fid, gid, uint32(2-i)), b.next(t))
	}
	b.quiet(t)

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: got[1]}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, got[1], gid, 0), b.next(t))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: got[1]}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, got[1], gid, 0), b.next(t), "idempotent")
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: 0}))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, got[0], gid, 1), b.next(t))
	assert.Equal(t, fpproto.FingerEvent(fpproto.MsgTemplateRemoved, got[2], gid, 0), b.next(t))
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
		want fpproto.RequestStatus
	}{
		{"writable directory", dir, fpproto.SysOK},
		{"trailing slash", dir + "/", fpproto.SysOK},
		{"empty (VTS SetActiveGroupNullTest)", "", fpproto.SysEINVAL},
		{"root (VTS SetActiveGroupUnwritableTest)", "/", fpproto.SysEINVAL},
		{"root, spelled //", "//", fpproto.SysEINVAL},
		{"relative", "data/fp", fpproto.SysEINVAL},
		{"missing", filepath.Join(dir, "missing"), fpproto.SysEINVAL},
		{"a file", file, fpproto.SysEINVAL},
		{"NUL inside", dir + "\x00/x", fpproto.SysEINVAL},
		{"PATH_MAX long", "/" + strings.Repeat("a", fpproto.MaxPathLen-1), fpproto.SysEINVAL},
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		tests = append(tests, struct {
			name string
			path string
			want fpproto.RequestStatus
		}{"read-only directory", ro, fpproto.SysEINVAL})
	}
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: 1, Path: dir}))
	b.enroll(t, 1, 1, testFinger(50))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gid := uint32(2) // a refused path must leave group 1 active
			if tc.want == fpproto.SysOK {
				gid = 1
			}
			assert.Equal(t, tc.want, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: tc.path}))
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
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Authenticate{OperationID: 1, GID: 1}))
	require.NoError(t, b.sensor.WaitForCapture(ctx(t), 1))
	for _, req := range []statusRequest{
		fpproto.Enroll{HAT: d.passwordHAT(1, 1), GID: 1},
		fpproto.Authenticate{OperationID: 2, GID: 1},
		fpproto.Enumerate{},
		fpproto.Remove{GID: 1, FID: 0},
		fpproto.SetActiveGroup{GID: 1, Path: t.TempDir()},
	} {
		assert.Equal(t, fpproto.SysEBUSY, b.do(t, req), "%T", req)
	}
	b.quiet(t)
	_, err := fpproto.PreEnroll{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	_, err = fpproto.GetAuthenticatorID{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Cancel{}))
	assert.Equal(t, fpproto.ErrorEvent(fpproto.ErrorCanceled, 0, 0), b.next(t))
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Enumerate{}), "idle again")
	b.next(t)
}
