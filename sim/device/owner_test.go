package device

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/ta/fingerprint"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// fastLockout is the timed lockout of the modeFastLock fingerprint TA:
// the policy's counts (5, 20) are the real ones, only the wait between
// windows is short, so a test walks a group to permanent lockout.
const fastLockout = 300 * time.Millisecond

// runFastLockTA runs the real fingerprint TA with a fastLockout timed
// lockout.
func runFastLockTA(dir string) int {
	f := tas.FingerprintFactory(func(c *fingerprint.Config, _ *taproc.Env) { c.LockoutTimed = fastLockout })
	err := taproc.Run(context.Background(), taproc.Options{Role: tee.RoleFingerprint, Dir: dir, Factory: f, LogLevel: zapcore.InfoLevel})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// owned is a device with two Gatekeeper users — the owner (uid 0) and
// another user (uid 10) — and the owner's finger enrolled in group gid.
type owned struct {
	d          *Device
	gk, fp, ev *Session
	sen        *Sensor
	handles    map[uint32][]byte
	sids       map[uint32]uint64
	finger     *finger.Finger
	authID     uint64
}

const (
	ownerUID = 0
	otherUID = 10
	ownedGID = 4
)

var pinOf = map[uint32][]byte{ownerUID: []byte("1234"), otherUID: []byte("9999")}

// bootOwned boots Keymaster, Gatekeeper and the fingerprint TA (command
// from cmd if set) and enrolls both PINs and the owner's finger.
func bootOwned(t *testing.T, cmd func(dir string) func(tee.Role) *exec.Cmd, stderr *testkit.Buffer) *owned {
	t.Helper()
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}
		c.Restart = RestartPolicy{MaxRestarts: 20}
		if cmd != nil {
			c.Command = cmd(c.Dir)
		}
		if stderr != nil {
			c.Stderr = stderr
		}
	})
	o := &owned{d: d, handles: map[uint32][]byte{}, sids: map[uint32]uint64{}, finger: finger.New(0x0A11CE)}
	o.gk = session(t, d, tee.RoleGatekeeper)
	for _, uid := range []uint32{ownerUID, otherUID} {
		o.handles[uid], o.sids[uid] = enroll(t, o.gk, uid, pinOf[uid])
	}
	require.NotEqual(t, o.sids[ownerUID], o.sids[otherUID])
	o.reconnect(t)
	st, err := fpproto.SetActiveGroup{GID: ownedGID, Path: t.TempDir()}.Execute(testCtx(t), o.fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs := o.enroll(t, ownerUID)
	require.Equal(t, fpproto.MsgTemplateEnrolling, evs[len(evs)-1].Type, "%v", evs)
	o.authID, err = fpproto.GetAuthenticatorID{}.Execute(testCtx(t), o.fp)
	require.NoError(t, err)
	require.NotZero(t, o.authID)
	return o
}

// reconnect opens new fingerprint sessions and sensor (after a restart).
func (o *owned) reconnect(t *testing.T) {
	t.Helper()
	o.fp = session(t, o.d, tee.RoleFingerprint)
	o.ev = session(t, o.d, tee.RoleFingerprint)
	sen, err := o.d.OpenSensor(testCtx(t))
	require.NoError(t, err)
	t.Cleanup(func() { sen.Close() })
	o.sen = sen
}

// hat is Gatekeeper's PASSWORD HAT for uid (its PIN verified) and challenge.
func (o *owned) hat(t *testing.T, uid uint32, challenge uint64) []byte {
	t.Helper()
	rsp := verify(t, o.gk, uid, challenge, o.handles[uid], pinOf[uid])
	require.Zero(t, rsp.Status)
	return rsp.Token.Marshal()
}

// enroll presents the owner's finger and enrolls it into ownedGID with
// uid's HAT; it returns the events up to the end.
func (o *owned) enroll(t *testing.T, uid uint32) []fpproto.Event {
	t.Helper()
	ctx := testCtx(t)
	c, err := fpproto.PreEnroll{}.Execute(ctx, o.fp)
	require.NoError(t, err)
	hat := o.hat(t, uid, c)
	require.NoError(t, o.sen.Reset(ctx))
	require.NoError(t, o.sen.EnrollTouches(ctx, o.finger, fpproto.DefaultEnrollSamples))
	st, err := fpproto.Enroll{HAT: hat, GID: ownedGID, TimeoutSec: 20}.Execute(ctx, o.fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs := fpEvents(t, o.ev, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError || (e.Type == fpproto.MsgTemplateEnrolling && e.Remaining == 0)
	})
	require.NoError(t, o.sen.Reset(ctx))
	_, err = fpproto.PostEnroll{}.Execute(ctx, o.fp)
	require.NoError(t, err)
	return evs
}

// reset runs RESET_LOCKOUT(ownedGID) with uid's fresh PASSWORD HAT.
func (o *owned) reset(t *testing.T, uid uint32) error {
	t.Helper()
	res, err := fpproto.ResetLockout{GID: ownedGID, HAT: o.hat(t, uid, 0)}.Execute(testCtx(t), o.fp)
	require.NoError(t, err)
	return res.Err()
}

// attempt presents sample s, runs AUTHENTICATE and returns the events up
// to the first AUTHENTICATED or ERROR; a running operation is then
// cancelled (and its ERROR(CANCELED) consumed).
func (o *owned) attempt(t *testing.T, s *sensorproto.Sample) []fpproto.Event {
	t.Helper()
	ctx := testCtx(t)
	if s != nil {
		require.NoError(t, o.sen.Present(ctx, *s))
	}
	st, err := fpproto.Authenticate{OperationID: 0xF00D, GID: ownedGID}.Execute(ctx, o.fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	evs := fpEvents(t, o.ev, func(e fpproto.Event) bool {
		return e.Type == fpproto.MsgError || e.Type == fpproto.MsgAuthenticated
	})
	if evs[len(evs)-1].Type == fpproto.MsgError {
		require.NoError(t, o.sen.Reset(ctx))
		return evs
	}
	// CANCEL returns once the operation has ended and its last event is
	// queued: either ERROR(CANCELED), or the lockout the rejection caused
	// and then the ERROR(CANCELED) a CANCEL with nothing running queues.
	_, err = fpproto.Cancel{}.Execute(ctx, o.fp)
	require.NoError(t, err)
	isErr := func(e fpproto.Event) bool { return e.Type == fpproto.MsgError }
	evs = append(evs, fpEvents(t, o.ev, isErr)...)
	if e := lastEvent(evs); e.Error != fpproto.ErrorCanceled {
		cancelled := fpEvents(t, o.ev, isErr)
		require.Equal(t, fpproto.ErrorCanceled, lastEvent(cancelled).Error, "%v %v", evs, cancelled)
	}
	require.NoError(t, o.sen.Reset(ctx))
	return evs
}

// impostor is one everyday touch of a finger that is not the owner's,
// with enough minutiae to be matched (not ACQUIRED_INSUFFICIENT).
func impostor(t *testing.T, n uint64) *sensorproto.Sample {
	t.Helper()
	f := finger.New(0xBAD0 + n)
	r := rand.New(rand.NewPCG(f.Seed, 1))
	for {
		s, err := f.Impress(finger.DefaultSensor, finger.ProbePlacement(r))
		require.NoError(t, err)
		if s.Validate() == nil && len(s.Minutiae) >= 2*sensorproto.MinUsableMinutiae {
			return &s
		}
	}
}

// genuine is a clean touch of the owner's finger.
func (o *owned) genuine(t *testing.T, n uint64) *sensorproto.Sample {
	t.Helper()
	p := finger.Nominal
	p.DX, p.DY, p.Noise = 4, -2, n+1
	s, err := o.finger.Impress(finger.DefaultSensor, p)
	require.NoError(t, err)
	return &s
}

func lastEvent(evs []fpproto.Event) fpproto.Event { return evs[len(evs)-1] }

// matchedFinger is the finger id of the AUTHENTICATED event in evs (0: a
// rejection or none).
func matchedFinger(evs []fpproto.Event) uint32 {
	for _, e := range evs {
		if e.Type == fpproto.MsgAuthenticated {
			return e.FingerID
		}
	}
	return 0
}

// volatile are the log fields that differ between any two commands
// whatever they are (time, per-connection and per-request ids, the
// process's own id): the transcript leaves them out.
var volatile = []string{"ts", "duration", "request_id", "conn", "pid", "boot_id"}

// fingerprintLines returns the fingerprint TA's JSON log lines in out,
// each without its volatile fields.
func fingerprintLines(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["component"] != "fingerprint" {
			continue
		}
		for _, k := range volatile {
			delete(m, k)
		}
		b, err := json.Marshal(m) // keys sorted
		require.NoError(t, err)
		lines = append(lines, string(b))
	}
	return lines
}

// TestRejectionsLeakNothingAcrossProcesses: rejected touches of very
// different similarity — a near miss of the owner's own finger, a far
// impostor, a sample of only 8 minutiae — give the REE (the events, the
// fingerprint TA's log lines the launcher collects, minus their
// timestamps, and the error/vendor codes) the same transcript, and no log
// line carries a score, distance or minutiae count (ISO/IEC 30107-1
// hill-climbing countermeasure; CDD 7.3.10).
func TestRejectionsLeakNothingAcrossProcesses(t *testing.T) {
	logs := &testkit.Buffer{}
	o := bootOwned(t, nil, logs)

	// The reference template the TA holds, rebuilt from the same
	// deterministic enrollment touches, to grade the probes.
	m := matcher.NewMinutiae(matcher.DefaultThreshold)
	// Samples go through the sensor encoding, as the TA receives them.
	wire := func(s sensorproto.Sample) sensorproto.Sample {
		b, err := sensorproto.MarshalSample(s)
		require.NoError(t, err)
		out, err := sensorproto.ParseSample(b)
		require.NoError(t, err)
		return out
	}
	enrollP, _ := finger.Touches(o.finger, fpproto.DefaultEnrollSamples, 0)
	var samples []sensorproto.Sample
	for _, p := range enrollP {
		s, err := o.finger.Impress(finger.DefaultSensor, p)
		require.NoError(t, err)
		samples = append(samples, wire(s))
	}
	tmpl, err := m.Enroll(samples)
	require.NoError(t, err)
	score := func(s sensorproto.Sample) float64 {
		v, err := m.Match(tmpl, s)
		require.NoError(t, err)
		return v
	}
	// Near miss: the owner's finger, placed so that it scores highest
	// below the threshold among 400 everyday touches.
	var near sensorproto.Sample
	best := -1.0
	r := rand.New(rand.NewPCG(7, 7))
	for range 400 {
		s, err := o.finger.Impress(finger.DefaultSensor, finger.ProbePlacement(r))
		require.NoError(t, err)
		if s.Validate() != nil {
			continue
		}
		s = wire(s)
		if v := score(s); v < m.Threshold()-1 && v > best && len(s.Minutiae) >= sensorproto.MinUsableMinutiae {
			near, best = s, v
		}
	}
	far := *impostor(t, 1)
	few := *impostor(t, 2)
	few.Minutiae = few.Minutiae[:sensorproto.MinUsableMinutiae]
	probes := []struct {
		name string
		s    sensorproto.Sample
	}{{"near miss", near}, {"far impostor", far}, {"8 minutiae", few}}
	t.Logf("scores: near %.2f, far %.2f, few %.2f (threshold %.2f)", score(near), score(far), score(few), m.Threshold())
	require.Greater(t, score(near), score(far)+5, "the probes differ in similarity")

	transcripts := map[string]string{}
	for _, p := range probes {
		before := len(fingerprintLines(t, logs.String()))
		evs := o.attempt(t, &p.s)
		require.Equal(t, fpproto.Event{Type: fpproto.MsgAuthenticated, GroupID: ownedGID}, evs[len(evs)-2], "%s rejected: %v", p.name, evs)
		require.NoError(t, o.reset(t, ownerUID)) // each probe is the first failure
		var lines []string
		require.Eventually(t, func() bool {
			lines = fingerprintLines(t, logs.String())[before:]
			// The TA's "lockout reset" is the last info line a probe
			// causes (the host's command lines are debug).
			return slices.ContainsFunc(lines, func(l string) bool {
				return strings.Contains(l, `"msg":"lockout reset"`)
			})
		}, 10*time.Second, 10*time.Millisecond, "the TA's log reaches the launcher")
		var tr strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&tr, "%v detail=%d vendor=%d\n", e, e.Detail, e.VendorCode)
		}
		// Lines of concurrent sessions interleave in any order: the
		// transcript is their sorted multiset.
		for _, l := range slices.Sorted(slices.Values(lines)) {
			assert.NotRegexp(t, `(?i)score|distance|similar|minuti`, l, p.name)
			tr.WriteString(l + "\n")
		}
		transcripts[p.name] = tr.String()
	}
	for _, p := range probes {
		assert.Equal(t, transcripts["far impostor"], transcripts[p.name], "%s: the REE tells it from a far impostor", p.name)
	}
	t.Logf("transcript of every rejection:\n%s", transcripts["far impostor"])
}

// TestLockoutResetOnlyByOwnerAcrossProcesses: with the group locked out,
// RESET_LOCKOUT with a fresh PASSWORD HAT of another Gatekeeper user is
// refused (ErrNotGroupOwner) and the group stays locked; ENROLL into the
// group with that user's HAT is refused the same way with nothing stored;
// the owner's HAT clears the lockout and the owner's finger matches.
func TestLockoutResetOnlyByOwnerAcrossProcesses(t *testing.T) {
	o := bootOwned(t, nil, nil)
	var evs []fpproto.Event
	for i := range fpproto.LockoutTimedAttempts {
		evs = o.attempt(t, impostor(t, uint64(i)))
	}
	require.Equal(t, fpproto.ErrorLockout, lastEvent(evs).Error, "%v", evs)

	err := o.reset(t, otherUID)
	require.ErrorIs(t, err, fpproto.ErrNotGroupOwner)
	var he *fpproto.HATError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, fpproto.ErrorUnableToProcess, he.Code)
	evs = o.attempt(t, o.genuine(t, 1))
	assert.Equal(t, fpproto.ErrorLockout, lastEvent(evs).Error, "still locked after a refused reset: %v", evs)

	evs = o.enroll(t, otherUID)
	last := lastEvent(evs)
	assert.Equal(t, fpproto.ErrorUnableToProcess, last.Error, "%v", evs)
	assert.Equal(t, fpproto.ReasonHATUser, last.Reason())
	id, err := fpproto.GetAuthenticatorID{}.Execute(testCtx(t), o.fp)
	require.NoError(t, err)
	assert.Equal(t, o.authID, id, "nothing stored")

	require.NoError(t, o.reset(t, ownerUID))
	evs = o.attempt(t, o.genuine(t, 2))
	assert.NotZero(t, matchedFinger(evs), "the owner's finger matches after the owner's reset: %v", evs)
}

// TestPermanentLockoutWhateverTheREE walks a group to 20 consecutive
// failures while the REE does everything it can to keep the count down —
// kill -9 of the fingerprint TA between failures and in the middle of an
// authentication, SET_ACTIVE_GROUP to another group and back, RESET_LOCKOUT
// with another user's HAT, CANCEL — and the 20th failure is
// LOCKOUT_PERMANENT, which no timer, restart or refused reset lifts; only
// the owner's reset does. The TA child's timed lockout is fastLockout.
func TestPermanentLockoutWhateverTheREE(t *testing.T) {
	o := bootOwned(t, func(dir string) func(tee.Role) *exec.Cmd {
		return childCommand(dir, map[tee.Role]string{
			tee.RoleKeymaster: modeTA, tee.RoleGatekeeper: modeTA, tee.RoleFingerprint: modeFastLock,
		})
	}, nil)
	kill := func() {
		pid, err := o.d.PID(tee.RoleFingerprint)
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		e := nextEvent(t, o.d, EventRestarted)
		require.Equal(t, tee.RoleFingerprint, e.Role)
		o.reconnect(t)
	}
	tricks := []func(){
		kill,
		func() {
			for _, gid := range []uint32{ownedGID + 1, ownedGID} {
				st, err := fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}.Execute(testCtx(t), o.fp)
				require.NoError(t, err)
				require.Equal(t, fpproto.SysOK, st)
			}
		},
		func() { require.ErrorIs(t, o.reset(t, otherUID), fpproto.ErrNotGroupOwner) },
		func() { // kill -9 while an authentication waits for a finger
			st, err := fpproto.Authenticate{OperationID: 1, GID: ownedGID}.Execute(testCtx(t), o.fp)
			require.NoError(t, err)
			require.Equal(t, fpproto.SysOK, st)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if o.sen.WaitForCapture(ctx, 1) != nil { // a locked group reads no finger
				evs := fpEvents(t, o.ev, func(e fpproto.Event) bool { return e.Type == fpproto.MsgError })
				require.Contains(t, []fpproto.Error{fpproto.ErrorLockout, fpproto.ErrorLockoutPermanent}, lastEvent(evs).Error)
			}
			kill()
		},
	}
	failures := 0
	for failures < fpproto.LockoutPermanentAttempts {
		evs := o.attempt(t, impostor(t, uint64(failures)))
		last := lastEvent(evs)
		switch {
		case last.Error == fpproto.ErrorLockout:
			// A timed lockout: refused until it runs out; the count stays.
			if slices.ContainsFunc(evs, func(e fpproto.Event) bool { return e.Type == fpproto.MsgAuthenticated }) {
				failures++
			}
			time.Sleep(last.LockoutRemaining() + 50*time.Millisecond)
		case last.Error == fpproto.ErrorLockoutPermanent:
			failures++
			require.Equal(t, fpproto.LockoutPermanentAttempts, failures, "%v", evs)
		default:
			require.Equal(t, fpproto.ErrorCanceled, last.Error, "%v", evs)
			failures++
		}
		tricks[failures%len(tricks)]()
	}
	require.Equal(t, fpproto.LockoutPermanentAttempts, failures)
	for _, trick := range append(tricks, func() { time.Sleep(2 * fastLockout) }) {
		trick()
		evs := o.attempt(t, o.genuine(t, 3))
		require.Equal(t, fpproto.ErrorLockoutPermanent, lastEvent(evs).Error, "the genuine finger is refused: %v", evs)
	}
	require.NoError(t, o.reset(t, ownerUID))
	evs := o.attempt(t, o.genuine(t, 4))
	assert.NotZero(t, matchedFinger(evs), "the owner's reset lifts it: %v", evs)
}
