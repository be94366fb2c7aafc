package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
)

// The attacks of this file play the rules "biometric decisions leak
// nothing" (ISO/IEC 30107-1 hill-climbing countermeasure; Android CDD
// 7.3.10: the HAL reports accept or reject only) and "lockout is cleared
// only by the group's owner" (AIDL ISession.resetLockout;
// LockoutFrameworkImpl's permanent lockout at 20), as the HAL: the
// attacker drives the fingerprint TA directly.

// withOtherUser sets up finger A's group as the HAL (restart as given)
// and enrolls a second Gatekeeper user of the device: the attacker's own
// account, whose PASSWORD HATs are authentic but carry another SID.
// Failures are recorded in t; the fixture is nil then.
func (r *runner) withOtherUser(ctx context.Context, t *tally, restart simdev.RestartPolicy) (*fixture, *pin) {
	fx := r.setup(ctx, t, false, restart)
	if fx == nil {
		return nil, nil
	}
	other, err := enrollUserPIN(ctx, fx.pin.gk, 10, []byte("0000"))
	if !t.must("second Gatekeeper user", err) {
		return nil, nil
	}
	return fx, other
}

// resetLockout runs RESET_LOCKOUT(gid) with p's fresh PASSWORD HAT on the
// fingerprint TA and returns its typed refusal, or nil.
func resetLockout(ctx context.Context, fx *fixture, p *pin, gid uint32) error {
	td, ok := fx.fp.(drive.TA)
	if !ok {
		return errors.New("RESET_LOCKOUT needs the HAL's position")
	}
	hat, err := p.hat(ctx, 0)
	if err != nil {
		return err
	}
	res, err := fpproto.ResetLockout{GID: gid, HAT: hat}.Execute(ctx, td.Cmd)
	if err != nil {
		return err
	}
	return res.Err()
}

// endOp cancels the running operation and returns the event that ended
// it: ERROR(CANCELED), or the lockout a rejection caused just before (the
// ERROR(CANCELED) a CANCEL with nothing running queues is consumed then).
func endOp(ctx context.Context, fp drive.Fingerprint) (fpproto.Event, error) {
	if err := fp.Cancel(ctx); err != nil {
		return fpproto.Event{}, err
	}
	none := func(fpproto.Event) bool { return false }
	e, err := drive.AwaitEvent(ctx, fp, none)
	if err != nil || e.Error == fpproto.ErrorCanceled {
		return e, err
	}
	_, err = drive.AwaitEvent(ctx, fp, none)
	return e, err
}

// failOnce runs one AUTHENTICATE with one impostor touch (finger B, noise
// n) and returns the event that ended the operation: ERROR(CANCELED) after
// a rejection, or a lockout (before or right after the rejection);
// rejected says whether a touch was rejected.
func failOnce(ctx context.Context, fx *fixture, n int) (e fpproto.Event, rejected bool, err error) {
	if err := touch(ctx, fx.sen, fingerB, n); err != nil {
		return e, false, err
	}
	if err := fx.fp.Authenticate(ctx, 0xBAD, 0); err != nil {
		return e, false, err
	}
	e, err = drive.AwaitEvent(ctx, fx.fp, func(e fpproto.Event) bool { return e.Type == fpproto.MsgAuthenticated })
	if err != nil || e.Type == fpproto.MsgError {
		_ = fx.sen.Reset(ctx)
		return e, false, err
	}
	if e.FingerID != 0 {
		return e, true, fmt.Errorf("finger B matched finger A's group")
	}
	e, err = endOp(ctx, fx.fp)
	return e, true, err
}

// observation is what the REE sees of one rejected touch.
type observation struct {
	events string   // the events, every field
	lines  []string // the fingerprint TA's log lines, volatile fields removed
}

// volatileLogFields differ between any two commands whatever they are
// (time, ids of the process, connection, request) or count the
// attacker's own attempts ("failed"): they grade nothing.
var volatileLogFields = []string{"ts", "duration", "request_id", "conn", "pid", "boot_id", "failed", "caller"}

// fingerprintLogLines returns the fingerprint TA's log lines in b with
// their volatile fields removed, keys sorted.
func fingerprintLogLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["component"] != "fingerprint" {
			continue
		}
		for _, k := range volatileLogFields {
			delete(m, k)
		}
		nb, err := json.Marshal(m)
		if err == nil {
			out = append(out, string(nb))
		}
	}
	return out
}

var numberRE = regexp.MustCompile(`-?\d+(\.\d+)?([eE][-+]?\d+)?`)

// fitness is the climber's reading of an observation: every number the
// REE saw (log fields, vendor codes, details), summed. A device that
// leaks nothing gives every rejection the same fitness.
func (o observation) fitness() float64 {
	var f float64
	for _, s := range append(slices.Clone(o.lines), o.events) {
		for _, n := range numberRE.FindAllString(s, -1) {
			if v, err := strconv.ParseFloat(n, 64); err == nil && !math.IsInf(v, 0) {
				f += v
			}
		}
	}
	return f
}

// hillClimbTries is how many samples the climb presents.
const hillClimbTries = 5000

// mutate returns a copy of s with a few minutiae moved or turned, and now
// and then one added or dropped: the climber's step.
func mutate(r *mrand.Rand, s sensorproto.Sample) sensorproto.Sample {
	out := s
	out.Minutiae = slices.Clone(s.Minutiae)
	w, h := float64(s.Width), float64(s.Height)
	for range 1 + r.IntN(3) {
		i := r.IntN(len(out.Minutiae))
		m := &out.Minutiae[i]
		m.X = min(max(m.X+r.NormFloat64()*4, 0), w-1)
		m.Y = min(max(m.Y+r.NormFloat64()*4, 0), h-1)
		m.Angle = sensorproto.NormAngle(m.Angle + r.NormFloat64()*0.2)
	}
	switch x := r.Float64(); {
	case x < 0.1 && len(out.Minutiae) < sensorproto.MaxSampleMinutiae:
		out.Minutiae = append(out.Minutiae, sensorproto.Minutia{
			X: r.Float64() * (w - 1), Y: r.Float64() * (h - 1), Angle: r.Float64() * 2 * math.Pi,
			Kind: sensorproto.RidgeEnding + sensorproto.Kind(r.IntN(2)), Quality: uint8(40 + r.IntN(61)),
		})
	case x < 0.2 && len(out.Minutiae) > 2*sensorproto.MinUsableMinutiae:
		i := r.IntN(len(out.Minutiae))
		out.Minutiae = slices.Delete(out.Minutiae, i, i+1)
	}
	return out
}

// startSample is a fresh impostor touch the climb starts from.
func startSample(r *mrand.Rand, k uint64) (sensorproto.Sample, error) {
	f := finger.New(0x5EED0000 + k)
	for {
		s, err := f.Impress(finger.DefaultSensor, finger.ProbePlacement(r))
		if err != nil {
			return s, err
		}
		if s.Validate() == nil && len(s.Minutiae) >= 2*sensorproto.MinUsableMinutiae {
			return s, nil
		}
	}
}

var hillClimb = attack{
	Info: Info{
		ID: "hill-climb",
		Attack: fmt.Sprintf("as the HAL, hill-climb %d synthetic impostor samples on every number the REE sees (events, codes, TA log lines), "+
			"granted the owner's PIN to RESET_LOCKOUT every 4 rejections", hillClimbTries),
		Defence: "no match score, distance or feature count leaves the TA (ISO/IEC 30107-1 hill-climbing countermeasure, CDD 7.3.10): every rejection looks the same → never accepted",
		Want:    Rejected,
	},
	run: given(asHAL(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		if _, err := authenticate(ctx, fx.fp, fx.sen, fingerA, 1, 0); !t.must("control: finger A is accepted", err) {
			return
		}
		rng := mrand.New(mrand.NewPCG(0xC11B, 1))
		restarts := uint64(0)
		best, err := startSample(rng, restarts)
		if !t.must("start sample", err) {
			return
		}
		bestFit := math.Inf(-1)
		stale := 0
		events := map[string]int{}
		lines := map[string]int{}
		var warm map[string]bool // the log lines of the first cycles
		logOff := fx.dev.logs.Written()
		inOp := false
		for try := range hillClimbTries {
			if try%(fpproto.LockoutTimedAttempts-1) == 0 {
				if inOp {
					if _, err := endOp(ctx, fx.fp); !t.must("cancel", err) {
						return
					}
					if !t.must("RESET_LOCKOUT with the owner's HAT", resetLockout(ctx, fx, fx.pin, 0)) {
						return
					}
				}
				if !t.must("AUTHENTICATE", fx.fp.Authenticate(ctx, 0xC11B, 0)) {
					return
				}
				inOp = true
			}
			if try == 40 {
				warm = map[string]bool{}
				for l := range lines {
					warm[l] = true
				}
			}
			cand := best
			if try > 0 {
				cand = mutate(rng, best)
			}
			if !t.must("PRESENT", fx.sen.Present(ctx, cand)) {
				return
			}
			var obs observation
			for {
				e, ok, err := fx.fp.Next(ctx, opTimeout)
				if !t.must("NEXT_EVENT", err) {
					return
				}
				if !ok {
					t.brokef("try %d: no event within %v", try, opTimeout)
					return
				}
				obs.events += fmt.Sprintf("%v detail=%d vendor=%d|", e, e.Detail, e.VendorCode)
				if e.Type == fpproto.MsgError {
					t.brokef("try %d: the operation ended: %v", try, e)
					return
				}
				if e.Type == fpproto.MsgAuthenticated {
					if e.FingerID != 0 {
						t.breachf("try %d: a climbed sample was accepted (fid %d)", try, e.FingerID)
						return
					}
					break
				}
			}
			var b []byte
			b, logOff = fx.dev.logs.Since(logOff)
			obs.lines = fingerprintLogLines(b)
			events[obs.events]++
			for _, l := range obs.lines {
				lines[l]++
			}
			if f := obs.fitness(); f > bestFit {
				best, bestFit, stale = cand, f, 0
			} else if stale++; stale >= 500 {
				restarts++
				if best, err = startSample(rng, restarts); !t.must("restart sample", err) {
					return
				}
				bestFit, stale = math.Inf(-1), 0
			}
		}
		if _, err := endOp(ctx, fx.fp); !t.must("cancel", err) {
			return
		}
		if len(events) != 1 {
			t.breachf("the events of a rejection vary with the sample: %d distinct transcripts", len(events))
		}
		var fresh []string
		for l := range lines {
			if !warm[l] {
				fresh = append(fresh, l)
			}
		}
		if len(fresh) > 0 {
			slices.Sort(fresh)
			t.breachf("the TA's log grades rejections: %d distinct log lines appeared after the first 40 tries, e.g. %s", len(fresh), fresh[0])
		}
		if !t.must("control: finger A is still accepted", resetLockout(ctx, fx, fx.pin, 0)) {
			return
		}
		if _, err := authenticate(ctx, fx.fp, fx.sen, fingerA, 2, 0); !t.must("control: finger A is still accepted", err) {
			return
		}
		t.heldf("%d climbed samples rejected, one event transcript, %d distinct log lines", hillClimbTries, len(lines))
		t.summarize("%d climbed samples (%d restarts), %d lockout resets with the owner's PIN → never accepted; every rejection the same transcript; finger A accepted",
			hillClimbTries, restarts, hillClimbTries/(fpproto.LockoutTimedAttempts-1))
	}),
}

// lockedOut fails finger B until the group is in timed lockout.
func lockedOut(ctx context.Context, fx *fixture, t *tally) bool {
	for n := range fpproto.LockoutTimedAttempts {
		e, _, err := failOnce(ctx, fx, n)
		if !t.must("impostor touch", err) {
			return false
		}
		if e.Error == fpproto.ErrorLockout {
			return true
		}
	}
	t.brokef("five rejections did not lock the group out")
	return false
}

// stillLocked checks that finger A is refused with a lockout error.
func stillLocked(ctx context.Context, fx *fixture, t *tally, after string, want fpproto.Error) bool {
	_, err := authenticate(ctx, fx.fp, fx.sen, fingerA, 3, 0)
	var oe *drive.OpError
	switch {
	case err == nil:
		t.breachf("after %s: finger A matched: the lockout was lifted", after)
		return false
	case errors.As(err, &oe) && oe.Code == want:
		return true
	}
	t.brokef("after %s: %s, want %v", after, describe(err), want)
	return false
}

var resetLockoutOtherUser = attack{
	Info: Info{
		ID:      "reset-lockout-other-user",
		Attack:  "lock finger A's group out, then RESET_LOCKOUT it with a fresh PASSWORD HAT of another Gatekeeper user",
		Defence: "the HAT's user_id must be the SID bound to the group's templates (AIDL resetLockout; protocol §9.6) → ERROR_UNABLE_TO_PROCESS (reason 11), count untouched",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		fx, other := r.withOtherUser(ctx, t, simdev.RestartPolicy{})
		if fx == nil || !lockedOut(ctx, fx, t) {
			return
		}
		name := t.refused("RESET_LOCKOUT with the other user's HAT", resetLockout(ctx, fx, other, 0), fpproto.ErrNotGroupOwner)
		if !stillLocked(ctx, fx, t, "the other user's reset", fpproto.ErrorLockout) {
			return
		}
		if !t.must("control: RESET_LOCKOUT with the owner's HAT", resetLockout(ctx, fx, fx.pin, 0)) {
			return
		}
		if _, err := authenticate(ctx, fx.fp, fx.sen, fingerA, 4, 0); !t.must("control: finger A after the owner's reset", err) {
			return
		}
		t.summarize("another user's HAT → %s, still locked out; the owner's HAT clears it", name)
	},
}

var enrollOtherSID = attack{
	Info: Info{
		ID:      "enroll-other-sid",
		Attack:  "ENROLL into finger A's group (bound to the owner's SID) with a valid enroll HAT of another Gatekeeper user",
		Defence: "a group is bound to one SID while it has templates (protocol §9.5) → ERROR_UNABLE_TO_PROCESS (reason 11), nothing stored",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		fx, other := r.withOtherUser(ctx, t, simdev.RestartPolicy{})
		if fx == nil {
			return
		}
		c, err := fx.fp.PreEnroll(ctx)
		if !t.must("PRE_ENROLL", err) {
			return
		}
		hat, err := other.hat(ctx, c)
		if !t.must("the other user's VERIFY", err) {
			return
		}
		name := t.refused("ENROLL with the other user's HAT", tryEnroll(ctx, fx.fp, fx.sen, hat, 0), fpproto.ErrNotGroupOwner)
		checkNothingStored(ctx, t, fx)
		owner, err := fx.pin.hat(ctx, c)
		if !t.must("the owner's VERIFY", err) || !t.must("control: ENROLL with the owner's HAT", tryEnroll(ctx, fx.fp, fx.sen, owner, 0)) {
			return
		}
		t.summarize("another user's enroll HAT → %s, nothing stored; the owner's HAT is accepted", name)
	},
}

// permanentLockoutAttempts bounds the touches the permanent-lockout
// attack spends (20 failures plus the refusals of timed lockouts).
const permanentLockoutAttempts = 3 * fpproto.LockoutPermanentAttempts

var permanentLockout = attack{
	Info: Info{
		ID: "permanent-lockout",
		Attack: "keep the failure count below 20: kill -9 the fingerprint TA (also mid-AUTHENTICATE), SET_ACTIVE_GROUP away and back, " +
			"RESET_LOCKOUT with another user's HAT, CANCEL, between impostor touches (waits out the timed lockouts)",
		Defence: "the count is sealed with each failure and only a match or the owner's reset clears it (LockoutFrameworkImpl) → LOCKOUT_PERMANENT at 20, whatever else happens",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		fx, other := r.withOtherUser(ctx, t, simdev.RestartPolicy{MaxRestarts: 2 * fpproto.LockoutPermanentAttempts})
		if fx == nil {
			return
		}
		kill := func(ctx context.Context) error {
			pid, err := fx.dev.sim.PID(tee.RoleFingerprint)
			if err != nil {
				return err
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return err
			}
			if _, err := fx.dev.waitEvent(ctx, tee.RoleFingerprint, simdev.EventRestarted); err != nil {
				return err
			}
			if fx.fp, err = fx.dev.taDriver(ctx); err != nil {
				return err
			}
			fx.sen, err = fx.dev.sensor(ctx)
			return err
		}
		tricks := []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"kill -9", kill},
			{"SET_ACTIVE_GROUP away and back", func(ctx context.Context) error {
				if err := fx.fp.SetActiveGroup(ctx, 1, r.storePath()); err != nil {
					return err
				}
				return fx.fp.SetActiveGroup(ctx, 0, r.storePath())
			}},
			{"RESET_LOCKOUT with another user's HAT", func(ctx context.Context) error {
				if err := resetLockout(ctx, fx, other, 0); !errors.Is(err, fpproto.ErrNotGroupOwner) {
					return fmt.Errorf("another user's reset answered %s", describe(err))
				}
				return nil
			}},
			{"kill -9 mid-AUTHENTICATE", func(ctx context.Context) error {
				if err := fx.fp.Authenticate(ctx, 7, 0); err != nil {
					return err
				}
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_ = fx.sen.WaitForCapture(wctx, 1) // a locked group reads no finger
				return kill(ctx)
			}},
		}
		failures := 0
		for try := 0; failures < fpproto.LockoutPermanentAttempts; try++ {
			if try >= permanentLockoutAttempts {
				t.breachf("%d failures counted, %d touches: never LOCKOUT_PERMANENT", failures, try)
				return
			}
			e, rejected, err := failOnce(ctx, fx, try)
			if !t.must("impostor touch", err) {
				return
			}
			if rejected {
				failures++
			}
			switch {
			case e.Error == fpproto.ErrorLockoutPermanent && failures < fpproto.LockoutPermanentAttempts:
				t.brokef("LOCKOUT_PERMANENT after %d failures", failures)
				return
			case e.Error == fpproto.ErrorLockoutPermanent:
			case e.Error == fpproto.ErrorLockout:
				select { // a timed lockout: wait it out; the count stays
				case <-time.After(e.LockoutRemaining() + 50*time.Millisecond):
				case <-ctx.Done():
					return
				}
			case failures >= fpproto.LockoutPermanentAttempts:
				t.breachf("the 20th consecutive failure ended with %v, not LOCKOUT_PERMANENT", e)
				return
			}
			trick := tricks[try%len(tricks)]
			if !t.must(trick.name, trick.do(ctx)) {
				return
			}
		}
		for _, trick := range tricks {
			if !t.must(trick.name, trick.do(ctx)) || !stillLocked(ctx, fx, t, trick.name, fpproto.ErrorLockoutPermanent) {
				return
			}
			t.heldf("after %s: finger A → LOCKOUT_PERMANENT", trick.name)
		}
		if !t.must("control: RESET_LOCKOUT with the owner's HAT", resetLockout(ctx, fx, fx.pin, 0)) {
			return
		}
		if _, err := authenticate(ctx, fx.fp, fx.sen, fingerA, 5, 0); !t.must("control: finger A after the owner's reset", err) {
			return
		}
		t.summarize("20 failures among %d tricks → LOCKOUT_PERMANENT; it survives every trick; the owner's HAT clears it", len(tricks))
	},
}
