package attack

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// killPoint is a moment of an enrollment at which the fingerprint TA is
// killed: once it has taken samples of its eight (and waits for the
// next), or — samples = 8 — delay after the last sample was acquired,
// while it is merged and committed: a race the TA must survive whichever
// side of the commit the kill lands.
type killPoint struct {
	samples int
	delay   time.Duration
}

var killPoints = []killPoint{
	{1, 0}, {4, 0}, {7, 0},
	{8, 0}, {8, 2 * time.Millisecond}, {8, 8 * time.Millisecond}, {8, 30 * time.Millisecond},
}

var killMidEnroll = attack{
	Info: Info{
		ID:      "kill-mid-enroll",
		Attack:  "kill -9 the fingerprint TA after 1, 4, 7 of 8 samples and 0-30 ms after the last; launcher restarts it",
		Defence: "template, SID binding and authenticator id in one transaction (docs/architecture.md rule 5) → no partial template, nothing lost",
		Want:    Survived,
	},
	run: given(asHAL(simdev.RestartPolicy{MaxRestarts: len(killPoints)}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		var stale []byte
		commits := map[string]int{}
		for i, kp := range killPoints {
			hat, outcome, ok := killDuringEnroll(ctx, t, r, fx, finger.New(0xD00D+uint64(i)), kp)
			if !ok {
				return
			}
			stale = hat
			if kp.samples == fpproto.DefaultEnrollSamples {
				commits[outcome]++
			}
		}
		// The last interrupted enrollment's challenge died with the
		// process (PRE_ENROLL challenges live in memory only, protocol
		// §9.2) and no PRE_ENROLL came since.
		err := tryEnroll(ctx, fx.fp, fx.sen, stale, 0)
		if err == nil {
			t.breachf("the HAT of an interrupted enrollment still enrolls after the TA restarted")
		} else {
			t.refused("the interrupted enrollment's HAT after the restart", err, errUnableToProcess)
		}
		e, err := authenticate(ctx, fx.fp, fx.sen, fingerA, challenge(), 0)
		switch {
		case err != nil:
			t.breachf("finger A, enrolled before the kills, no longer authenticates: %s", describe(err))
		case e.FingerID != fx.fid:
			t.breachf("finger A authenticates as fid %d, enrolled as %d", e.FingerID, fx.fid)
		default:
			t.heldf("finger A still authenticates")
		}
		t.summarize("kill -9 after 1, 4, 7 samples: nothing stored; 0-30 ms after the last: %d nothing stored, %d template committed whole; finger A intact; the interrupted challenge is dead",
			commits[outcomeNothing], commits[outcomeWhole])
	}),
}

// killDuringEnroll enrolls f with k touches queued and SIGKILLs the
// fingerprint TA once it has taken them (k < 8: it then waits for the
// next; k = 8: as the last sample is being merged), waits for the launcher
// to restart it and checks that the TA holds either nothing new (and the
// same authenticator id) or, only for k = 8, f's complete template. It
// returns the HAT of the interrupted enrollment, what the TA kept, and
// false if the attack must stop; findings go to t.
func killDuringEnroll(ctx context.Context, t *tally, r *runner, fx *fixture, f *finger.Finger, kp killPoint) ([]byte, string, bool) {
	k := kp.samples
	before, err := enumerate(ctx, fx.fp)
	if !t.must("enumerate", err) {
		return nil, "", false
	}
	authID, err := fx.fp.AuthenticatorID(ctx)
	if !t.must("authenticator id", err) {
		return nil, "", false
	}
	_, hat, ok := fx.enrollHAT(ctx, t)
	if !ok {
		return nil, "", false
	}
	if !t.must("queue touches", fx.sen.EnrollTouches(ctx, f, k)) || !t.must("ENROLL", fx.fp.Enroll(ctx, hat, 0)) {
		return nil, "", false
	}
	if k < fpproto.DefaultEnrollSamples {
		// All k taken and the TA waits for the next touch.
		if !t.must("wait for the TA to take the touches", waitIdleSensor(ctx, fx)) {
			return nil, "", false
		}
	} else {
		// The eighth sample: kill as soon as it is acquired.
		n := 0
		_, err := drive.AwaitEvent(ctx, fx.fp, func(e fpproto.Event) bool {
			if e.Type == fpproto.MsgAcquired {
				n++
			}
			return n == k || (e.Type == fpproto.MsgTemplateEnrolling && e.Remaining == 0)
		})
		if !t.must("wait for the last sample", err) {
			return nil, "", false
		}
		time.Sleep(kp.delay)
	}
	pid, err := fx.dev.sim.PID(tee.RoleFingerprint)
	if !t.must("fingerprint TA pid", err) || !t.must("kill -9", syscall.Kill(pid, syscall.SIGKILL)) {
		return nil, "", false
	}
	if _, err := fx.dev.waitEvent(ctx, tee.RoleFingerprint, simdev.EventRestarted); err != nil {
		if ctx.Err() != nil {
			return nil, "", false // interrupted: runOne reports it
		}
		t.breachf("the fingerprint TA did not come back after kill -9 at sample %d: %s", k, describe(err))
		return nil, "", false
	}
	// The old sessions died with the process: reconnect as the HAL does.
	if fx.fp, err = fx.dev.taDriver(ctx); !t.must("reconnect", err) {
		return nil, "", false
	}
	if fx.sen, err = fx.dev.sensor(ctx); !t.must("sensor", err) {
		return nil, "", false
	}
	if !t.must("set active group", fx.fp.SetActiveGroup(ctx, 0, r.storePath())) {
		return nil, "", false
	}
	after, err := enumerate(ctx, fx.fp)
	if !t.must("enumerate after restart", err) {
		return nil, "", false
	}
	authAfter, err := fx.fp.AuthenticatorID(ctx)
	if !t.must("authenticator id after restart", err) {
		return nil, "", false
	}
	for _, fid := range before {
		if !slices.Contains(after, fid) {
			t.breachf("kill at sample %d lost finger %d (before %v, after %v)", k, fid, before, after)
			return nil, "", false
		}
	}
	added := len(after) - len(before)
	switch {
	case added == 0 && authAfter == authID:
		t.heldf("kill after %d samples: nothing stored, nothing lost", k)
		return hat, outcomeNothing, true
	case added == 0:
		t.breachf("kill after %d samples: authenticator id changed (%#x → %#x) without a new template", k, authID, authAfter)
	case added == 1 && k == fpproto.DefaultEnrollSamples && authAfter != authID:
		// Committed before the kill: the template must be whole.
		e, err := authenticate(ctx, fx.fp, fx.sen, f, challenge(), 0)
		if err != nil || slices.Contains(before, e.FingerID) {
			t.breachf("kill at commit stored a template that does not authenticate its finger: %s", describe(err))
			return nil, "", false
		}
		t.heldf("kill %v after the last sample: the template was committed whole", kp.delay)
		return hat, outcomeWhole, true
	default:
		t.breachf("kill after %d samples: %d template(s) stored (before %v, after %v, authenticator id %#x → %#x)",
			k, added, before, after, authID, authAfter)
		return nil, "", false
	}
	return hat, "", true
}

// What a kill at commit left.
const (
	outcomeNothing = "nothing stored"
	outcomeWhole   = "committed whole"
)

// waitIdleSensor waits until the sensor queue is empty and the TA waits
// for a capture.
func waitIdleSensor(ctx context.Context, fx *fixture) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for {
		st, err := fx.sen.Status(ctx)
		if err != nil {
			return err
		}
		if st.Queued == 0 && st.Waiting > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sensor: %d queued, %d waiting: %w", st.Queued, st.Waiting, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
