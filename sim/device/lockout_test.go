package device

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// TestLockoutSurvivesTAKill runs the lockout policy (AOSP frameworks/base biometrics:
// timed 30 s lockout at the 5th consecutive failure) against the
// fingerprint TA process: five impostor touches end the authentication
// with ERROR_LOCKOUT; the TA is killed with SIGKILL and restarted by the
// launcher (same boot, key relayed again); the new process still refuses
// AUTHENTICATE with ERROR_LOCKOUT for the rest of the 30 s, without reading
// the sensor — the counter and deadline came from its sealed store.
func TestLockoutSurvivesTAKill(t *testing.T) {
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleFingerprint}
		c.Restart = RestartPolicy{MaxRestarts: 1}
	})
	ctx := testCtx(t)
	fp := session(t, d, tee.RoleFingerprint)
	ev := session(t, d, tee.RoleFingerprint)
	sen, err := d.OpenSensor(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { sen.Close() })

	const gid = 3
	st, err := fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	for i := range 5 {
		require.NoError(t, sen.ProbeTouch(ctx, finger.New(0x1000+uint64(i)), uint64(i)))
	}
	st, err = fpproto.Authenticate{OperationID: 0xCAFE, GID: gid}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs := fpEvents(t, ev, func(e fpproto.Event) bool { return e.Type == fpproto.MsgError })
	rejections := 0
	for _, e := range evs[:len(evs)-1] {
		if e.Type == fpproto.MsgAcquired {
			continue
		}
		require.Equal(t, fpproto.MsgAuthenticated, e.Type, "%v", evs)
		require.Zero(t, e.FingerID, "an impostor matched: %v", evs)
		require.Empty(t, e.HAT, "a rejection carries no HAT")
		rejections++
	}
	require.Equal(t, 5, rejections, "five rejections, then the error: %v", evs)
	locked := evs[len(evs)-1]
	require.Equal(t, fpproto.ErrorLockout, locked.Error, "%v", evs)
	assert.Equal(t, 30*time.Second, locked.LockoutRemaining())

	pid, err := d.PID(tee.RoleFingerprint)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	e := nextEvent(t, d, EventRestarted)
	require.Equal(t, tee.RoleFingerprint, e.Role)
	require.NotEqual(t, pid, e.PID)

	fp2 := session(t, d, tee.RoleFingerprint)
	ev2 := session(t, d, tee.RoleFingerprint)
	sen2, err := d.OpenSensor(ctx) // the sensor endpoint is the new process's
	require.NoError(t, err)
	t.Cleanup(func() { sen2.Close() })
	require.NoError(t, sen2.ProbeTouch(ctx, finger.New(0x2000), 9))
	before, err := sen2.Status(ctx)
	require.NoError(t, err)
	st, err = fpproto.Authenticate{OperationID: 0xCAFE, GID: gid}.Execute(ctx, fp2)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs = fpEvents(t, ev2, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError || e.Type == fpproto.MsgAuthenticated
	})
	require.Len(t, evs, 1, "refused before any capture: %v", evs)
	assert.Equal(t, fpproto.ErrorLockout, evs[0].Error, "the restarted TA is still locked out: %v", evs)
	left := evs[0].LockoutRemaining()
	assert.Greater(t, left, time.Duration(0))
	assert.LessOrEqual(t, left, 30*time.Second)
	after, err := sen2.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, before.Captures, after.Captures, "a locked-out group does not read the sensor")
}
