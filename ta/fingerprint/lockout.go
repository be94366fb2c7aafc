package fingerprint

import (
	"bytes"
	"time"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// LockoutMode is the framework's lockout mode (LockoutTracker LOCKOUT_NONE,
// LOCKOUT_TIMED, LOCKOUT_PERMANENT).
type LockoutMode int

// Lockout modes.
const (
	LockoutNone LockoutMode = iota
	LockoutTimed
	LockoutPermanent
)

func (m LockoutMode) String() string {
	switch m {
	case LockoutNone:
		return "none"
	case LockoutTimed:
		return "timed"
	case LockoutPermanent:
		return "permanent"
	}
	return "LockoutMode(?)"
}

// Lockout is one group's failure state: the pure policy of the HIDL
// framework's LockoutFrameworkImpl (AOSP frameworks/base, package
// com.android.server.biometrics.sensors.fingerprint.hidl), kept by the TA
// in its sealed store.
//
// The framework counts consecutive failed attempts and reports
//
//	failed ≥ MAX_FAILED_ATTEMPTS_LOCKOUT_PERMANENT (20)        → LOCKOUT_PERMANENT
//	failed > 0 && failed % MAX_FAILED_ATTEMPTS_LOCKOUT_TIMED (5) == 0
//	   && !timedLockoutCleared                                   → LOCKOUT_TIMED
//
// where the FAIL_LOCKOUT_TIMEOUT_MS (30 s) alarm sets timedLockoutCleared
// without clearing the counter, and every failure clears it again. Here the
// alarm is the deadline TimedUntilMs on the boot clock, set when a failure
// makes the count a multiple of 5: a timed lockout is in force while now <
// TimedUntilMs. BootID is the boot that deadline belongs to.
type Lockout struct {
	Failed       uint32
	TimedUntilMs uint64
	BootID       []byte
}

const lockoutTimedMs = uint64(fpproto.LockoutTimedDuration / time.Millisecond)

// Mode returns the lockout in force at nowMs and, for a timed lockout, the
// milliseconds it still lasts.
func (l Lockout) Mode(nowMs uint64) (LockoutMode, uint64) {
	switch {
	case l.Failed >= fpproto.LockoutPermanentAttempts:
		return LockoutPermanent, 0
	case l.Failed > 0 && l.Failed%fpproto.LockoutTimedAttempts == 0 && nowMs < l.TimedUntilMs:
		return LockoutTimed, l.TimedUntilMs - nowMs
	}
	return LockoutNone, 0
}

// Fail records one failed attempt at nowMs (LockoutFrameworkImpl
// addFailedAttemptForUser) and returns the new state: every 5th consecutive
// failure below 20 starts a 30 s timed lockout.
func (l Lockout) Fail(nowMs uint64, bootID []byte) Lockout {
	return l.fail(nowMs, bootID, lockoutTimedMs)
}

// fail is Fail with a timed lockout of timedMs (Config.LockoutTimed).
func (l Lockout) fail(nowMs uint64, bootID []byte, timedMs uint64) Lockout {
	out := Lockout{Failed: l.Failed, TimedUntilMs: l.TimedUntilMs, BootID: bytes.Clone(bootID)}
	if out.Failed < ^uint32(0) {
		out.Failed++
	}
	if out.Failed%fpproto.LockoutTimedAttempts == 0 && out.Failed < fpproto.LockoutPermanentAttempts {
		out.TimedUntilMs = nowMs + timedMs
	}
	return out
}

// InBoot returns the state as seen in boot bootID at nowMs. A deadline set
// in another boot means nothing on this boot's clock, which restarted: a
// timed lockout that may still have been running starts again for the full
// 30 s (fail closed, like Gatekeeper's ThrottleRequest after a reboot). The
// count is kept.
func (l Lockout) InBoot(nowMs uint64, bootID []byte) (Lockout, bool) {
	return l.inBoot(nowMs, bootID, lockoutTimedMs)
}

// inBoot is InBoot with a timed lockout of timedMs (Config.LockoutTimed).
func (l Lockout) inBoot(nowMs uint64, bootID []byte, timedMs uint64) (Lockout, bool) {
	if bytes.Equal(l.BootID, bootID) {
		return l, false
	}
	out := Lockout{Failed: l.Failed, BootID: bytes.Clone(bootID)}
	if l.Failed > 0 && l.Failed%fpproto.LockoutTimedAttempts == 0 && l.Failed < fpproto.LockoutPermanentAttempts && l.TimedUntilMs != 0 {
		out.TimedUntilMs = nowMs + timedMs
	}
	return out, true
}
