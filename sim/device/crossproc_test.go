package device

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/gatekeeper"
	"github.com/fpemu/fpemu/ta/gatekeeper/gatekeepertest"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// These tests run the real Keymaster and Gatekeeper TAs, each in its own OS
// process (the test binary re-executed in modeTA, which runs exactly what
// `fpemu ta <role>` runs), booted by the real launcher.

func bootDevice(t *testing.T, mut func(*Config)) *Device {
	t.Helper()
	dir := shortDir(t)
	d, err := startDevice(t, Config{
		Dir:          dir,
		Command:      taCommand(dir),
		ReadyTimeout: 15 * time.Second,
		StopGrace:    5 * time.Second,
	}, mut, 30*time.Second, Boot)
	require.NoError(t, err)
	return d
}

// startDevice starts a launcher of cfg (with a silent log unless set, and
// mut applied) through start within timeout, and shuts it down when the
// test ends.
func startDevice(t *testing.T, cfg Config, mut func(*Config), timeout time.Duration, start func(context.Context, Config) (*Device, error)) (*Device, error) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if mut != nil {
		mut(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d, err := start(ctx, cfg)
	if d != nil {
		t.Cleanup(func() { _ = shutdown(t, d) })
	}
	return d, err
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func session(t *testing.T, d *Device, role tee.Role, opts ...rpc.SessionOption) *Session {
	t.Helper()
	s, err := d.OpenSession(testCtx(t), role, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// provisioned is a test-only second record of role's keys for this boot,
// which the launcher provisions as secure boot could, so that a test can
// play that TA or check what was sealed for it. The REE code under test
// never has it. It is wiped when the test ends.
func provisioned(t *testing.T, d *Device, role tee.Role) boot.Record {
	t.Helper()
	require.NotNil(t, d.boot)
	rec, err := d.boot.Provision(role)
	require.NoError(t, err)
	t.Cleanup(rec.Wipe)
	return rec
}

// opener is a test-only stand-in for role's TA's envelope keys: it opens
// what was sealed for role this boot (the Gatekeeper's auth-token key
// envelope, the payment TA's bio envelopes).
func opener(t *testing.T, d *Device, role tee.Role) *envelope.Opener {
	t.Helper()
	u, err := tee.UUIDOf(role)
	require.NoError(t, err)
	o, err := envelope.NewOpener(u, provisioned(t, d, role).Keys, envelope.NewMemoryGuard())
	require.NoError(t, err)
	return o
}

// enroll enrolls password for uid (untrusted enroll) and returns the
// handle and SID.
func enroll(t *testing.T, gk *Session, uid uint32, password []byte) ([]byte, uint64) {
	t.Helper()
	rsp, err := gkproto.Enroll{UID: uid, DesiredPassword: password}.Execute(testCtx(t), gk)
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	require.NotZero(t, rsp.SecureUserID)
	return rsp.Handle, rsp.SecureUserID
}

func verify(t *testing.T, gk *Session, uid uint32, challenge uint64, handle, password []byte) gkproto.VerifyResponse {
	t.Helper()
	rsp, err := gkproto.Verify{UID: uid, Challenge: challenge, Handle: handle, Password: password}.Execute(testCtx(t), gk)
	require.NoError(t, err)
	return rsp
}

// signWithHAT generates a timeout-bound key for sid on curve, then signs
// with begin(HAT)+finish; it returns the error of begin or finish.
func signWithHAT(t *testing.T, km *Session, curve kmproto.ECCurve, sid uint64, hat []byte) error {
	t.Helper()
	ctx := testCtx(t)
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(curve, tokens.AuthPassword, keymastertest.Seconds(60), sid)}.Execute(ctx, km)
	require.NoError(t, err)
	h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign, HAT: hat}.Execute(ctx, km)
	if err != nil {
		return err
	}
	msg := []byte("pay 12.34 CNY to merchant 42")
	sig, err := kmproto.Finish{Handle: h, Input: msg}.Execute(ctx, km)
	if err != nil {
		return err
	}
	return kmproto.VerifySignature(curve, k.PublicKey, msg, sig)
}

// TestPasswordHATUnlocksKeymasterKey is the end-to-end proof that the
// auth-token key travelled from the Keymaster process to the Gatekeeper
// process through the launcher: a PASSWORD HAT minted by Gatekeeper is
// accepted by Keymaster for a key bound to the enrolled SID, and a HAT with
// one flipped byte is not. The REE never sees the key.
func TestPasswordHATUnlocksKeymasterKey(t *testing.T) {
	d := bootDevice(t, nil)
	gk := session(t, d, tee.RoleGatekeeper)
	km := session(t, d, tee.RoleKeymaster)

	password := []byte("correct horse\x00battery")
	handle, sid := enroll(t, gk, 10, password)
	rsp := verify(t, gk, 10, 0, handle, password)
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	require.Equal(t, sid, rsp.Token.UserID)
	require.Equal(t, tokens.AuthPassword, rsp.Token.AuthenticatorType)
	hat := rsp.Token.Marshal()

	curves := []struct {
		name  string
		curve kmproto.ECCurve
	}{{"P-256", kmproto.CurveP256}, {"SM2", kmproto.CurveSM2}}
	for _, tc := range curves {
		curve := tc.curve
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, signWithHAT(t, km, curve, sid, hat))
			for _, i := range []int{0, 1, 9, 17, 25, 29, 37, tokens.MACedSize, len(hat) - 1} {
				bad := append([]byte(nil), hat...)
				bad[i] ^= 0x01
				assert.Error(t, signWithHAT(t, km, curve, sid, bad), "HAT with byte %d flipped", i)
			}
			err := signWithHAT(t, km, curve, sid+1, hat)
			assert.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "HAT of another SID")
		})
	}
}

// TestKeymasterAuthTestsAcrossProcesses runs the KeyMint VTS AuthTest port
// against the Keymaster TA process.
func TestKeymasterAuthTestsAcrossProcesses(t *testing.T) {
	d := bootDevice(t, func(c *Config) { c.Roles = []tee.Role{tee.RoleKeymaster} })
	km := session(t, d, tee.RoleKeymaster)
	keymastertest.RunAuthTests(t, keymastertest.Env{
		Invoker:    km,
		Gatekeeper: opener(t, d, tee.RoleGatekeeper),
		NowMs:      d.boot.Clock().NowMs,
	})
}

// TestGatekeeperVTSAcrossProcesses runs the Gatekeeper VTS port against
// the Gatekeeper TA process, holding every token to Keymaster's key.
func TestGatekeeperVTSAcrossProcesses(t *testing.T) {
	d := bootDevice(t, nil)
	km := session(t, d, tee.RoleKeymaster)
	mac, err := keymastertest.AuthTokenMAC(testCtx(t), km, opener(t, d, tee.RoleGatekeeper))
	require.NoError(t, err)
	gatekeepertest.Run(t, gatekeepertest.Target{Invoker: session(t, d, tee.RoleGatekeeper), MAC: mac})
}

// TestGatekeeperThrottlingSurvivesRestart: failure records live in the
// Gatekeeper's sealed store, so killing the process (kill -9) and letting
// the launcher restart it does not reset the throttle.
func TestGatekeeperThrottlingSurvivesRestart(t *testing.T) {
	d := bootDevice(t, func(c *Config) { c.Restart = RestartPolicy{MaxRestarts: 1} })
	gk := session(t, d, tee.RoleGatekeeper)
	password := []byte("1234")
	handle, _ := enroll(t, gk, 7, password)

	// AOSP ComputeRetryTimeout: failures 1–4 answer at once; the 5th
	// failure imposes 30 s.
	for i := 1; i <= 4; i++ {
		rsp := verify(t, gk, 7, 0, handle, []byte("wrong"))
		require.Equal(t, gkproto.ErrorGeneralFailure, rsp.Status, "failure %d", i)
	}
	rsp := verify(t, gk, 7, 0, handle, []byte("wrong"))
	require.Equal(t, gkproto.ErrorRetryTimeout, rsp.Status)
	require.Equal(t, uint32(gatekeeper.FailureTimeoutMs), rsp.RetryTimeoutMs)

	old, err := d.PID(tee.RoleGatekeeper)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	e := nextEvent(t, d, EventExited)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)
	e = nextEvent(t, d, EventRestarted)
	require.NotEqual(t, old, e.PID)

	// The restarted TA has its state and (relayed again) its key; the
	// right password is still refused until the window passes.
	gk2 := session(t, d, tee.RoleGatekeeper)
	rsp = verify(t, gk2, 7, 0, handle, password)
	require.Equal(t, gkproto.ErrorRetryTimeout, rsp.Status, "throttle reset by a restart")
	assert.Positive(t, rsp.RetryTimeoutMs)
	assert.LessOrEqual(t, rsp.RetryTimeoutMs, uint32(gatekeeper.FailureTimeoutMs))
}

// TestKeymasterRestartRelaysNewKey: a restarted Keymaster draws a new
// auth-token key; the launcher relays it again, so Gatekeeper's new HATs
// work with it, and key blobs made before the restart still load (the
// storage key is the same for the whole boot).
func TestKeymasterRestartRelaysNewKey(t *testing.T) {
	d := bootDevice(t, func(c *Config) { c.Restart = RestartPolicy{MaxRestarts: 1} })
	gk := session(t, d, tee.RoleGatekeeper)
	km := session(t, d, tee.RoleKeymaster)
	password := []byte("pw")
	handle, sid := enroll(t, gk, 3, password)
	k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveSM2, tokens.AuthPassword, keymastertest.Seconds(60), sid)}.Execute(testCtx(t), km)
	require.NoError(t, err)
	oldHAT := verify(t, gk, 3, 0, handle, password).Token.Marshal()

	pid, err := d.PID(tee.RoleKeymaster)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	nextEvent(t, d, EventRestarted)

	// EventRestarted comes after the relay: Gatekeeper now holds the new
	// Keymaster's key.
	km2 := session(t, d, tee.RoleKeymaster)
	rsp := verify(t, gk, 3, 0, handle, password)
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign, HAT: rsp.Token.Marshal()}.Execute(testCtx(t), km2)
	require.NoError(t, err, "old key blob, new HAT, new Keymaster")
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign, HAT: oldHAT}.Execute(testCtx(t), km2)
	assert.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "a HAT under the previous Keymaster's key")
}

// TestClientOfKilledTAGetsTargetDead: with no restart policy, a client of a
// killed TA gets TEEC_ERROR_TARGET_DEAD promptly, on its open session and
// on a new connection, and the death is reported.
func TestClientOfKilledTAGetsTargetDead(t *testing.T) {
	d := bootDevice(t, nil)
	km := session(t, d, tee.RoleKeymaster)
	_, err := kmproto.GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(testCtx(t), km)
	require.NoError(t, err)

	pid, err := d.PID(tee.RoleKeymaster)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	e := nextEvent(t, d, EventExited)
	assert.Equal(t, "signal: killed", e.Status)
	assert.Equal(t, EventGaveUp, nextEvent(t, d, EventGaveUp).Kind)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = kmproto.GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(ctx, km)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	assert.Equal(t, tee.ResultTargetDead, tee.ResultOf(err))
	_, err = d.OpenSession(ctx, tee.RoleKeymaster)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	assert.Less(t, time.Since(start), 5*time.Second, "must fail promptly, not time out")

	// Gatekeeper is unaffected.
	gk := session(t, d, tee.RoleGatekeeper)
	_, err = gkproto.DeleteAllUsers{}.Execute(testCtx(t), gk)
	require.NoError(t, err)
}

// TestShutdownLeavesNoProcessOrSocket boots the real TAs, uses them, and
// checks that Shutdown ends every process (by pid) and removes every
// socket, and that the TAs exited cleanly on SIGTERM.
func TestShutdownLeavesNoProcessOrSocket(t *testing.T) {
	d := bootDevice(t, nil)
	gk := session(t, d, tee.RoleGatekeeper)
	enroll(t, gk, 1, []byte("x"))
	ps := pids(t, d)
	for _, r := range d.Roles() {
		fi, err := os.Stat(d.SocketPath(r))
		require.NoError(t, err)
		assert.Equal(t, os.ModeSocket|0o600, fi.Mode()&(os.ModeSocket|os.ModePerm), "socket mode")
	}
	require.NoError(t, shutdown(t, d), "TAs exit 0 on SIGTERM")
	for _, pid := range ps {
		assert.False(t, alive(pid), "pid %d", pid)
	}
	for _, r := range d.Roles() {
		assert.NoFileExists(t, d.SocketPath(r))
	}
	// The store and the fused key stay for the next boot.
	fi, err := os.Stat(filepath.Join(devdir.DataDir(d.Dir(), tee.RoleGatekeeper), "gatekeeper.db"))
	require.NoError(t, err)
	assert.Positive(t, fi.Size())
	fused, err := os.Stat(filepath.Join(d.Dir(), "fused.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fused.Mode().Perm())
}

// TestRebootKeepsEnrollment: a second boot of the same device directory
// (new BootID, same fused key) finds the Gatekeeper's enrolled password.
func TestRebootKeepsEnrollment(t *testing.T) {
	d := bootDevice(t, nil)
	gk := session(t, d, tee.RoleGatekeeper)
	handle, sid := enroll(t, gk, 5, []byte("pw"))
	first, _ := d.BootID()
	gk.Close()
	require.NoError(t, shutdown(t, d))

	d2 := bootDevice(t, func(c *Config) { c.Dir = d.Dir(); c.Command = taCommand(d.Dir()) })
	second, _ := d2.BootID()
	assert.NotEqual(t, first, second)
	rsp := verify(t, session(t, d2, tee.RoleGatekeeper), 5, 0, handle, []byte("pw"))
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	assert.Equal(t, sid, rsp.Token.UserID)
}

// TestTACrashAtStartupIsReported: a Gatekeeper whose store cannot be
// opened exits before readiness; Boot reports it with the exit status and
// the TA's own log line, stops Keymaster, and does not hang.
func TestTACrashAtStartupIsReported(t *testing.T) {
	dir := shortDir(t)
	db := filepath.Join(devdir.DataDir(dir, tee.RoleGatekeeper), "gatekeeper.db")
	require.NoError(t, os.MkdirAll(filepath.Dir(db), 0o700))
	junk := sha256.Sum256([]byte("not a database"))
	require.NoError(t, os.WriteFile(db, append(junk[:], make([]byte, 4096)...), 0o600))

	var started []*exec.Cmd
	cmd := taCommand(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Boot(ctx, Config{
		Dir: dir,
		Command: func(r tee.Role) *exec.Cmd {
			c := cmd(r)
			started = append(started, c)
			return c
		},
		Log: zap.NewNop(),
	})
	require.Error(t, err)
	assert.Nil(t, d)
	require.ErrorIs(t, err, ErrExitedBeforeReady)
	var se *StartError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, tee.RoleGatekeeper, se.Role)
	assert.Equal(t, "exit status 1", se.Status)
	assert.Contains(t, se.Stderr, `"component":"gatekeeper"`)
	assert.False(t, alive(se.PID))
	require.Len(t, started, 2)
	assert.False(t, alive(started[0].Process.Pid), "Keymaster stopped after the failed boot")
	assert.NoFileExists(t, devdir.SocketPath(dir, tee.RoleKeymaster))
}

// TestBootRefusesBadConfigBeforeSecureBoot: an unusable configuration is
// refused before the fused key is created.
func TestBootRefusesBadConfigBeforeSecureBoot(t *testing.T) {
	base := shortDir(t)
	long := filepath.Join(base, strings.Repeat("d", 100))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"socket path too long", Config{Dir: long, Command: taCommand(long)}},
		{"unknown role", Config{Dir: base, Command: taCommand(base), Roles: []tee.Role{"nfc"}}},
		{"no command", Config{Dir: base}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Log = zap.NewNop()
			d, err := Boot(testCtx(t), tc.cfg)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.NoFileExists(t, filepath.Join(tc.cfg.Dir, "fused.key"))
		})
	}
}
