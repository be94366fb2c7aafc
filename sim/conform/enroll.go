package conform

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/tokens"
)

// Groups of fpemu's cases: one each, so that templates and lockout state
// of one case never meet another's (VTS's cases keep group 99).
const (
	gidEnroll          = 101
	gidAuthenticate    = 102
	gidReject          = 103
	gidReplay          = 104
	gidRevoked         = 105
	gidWrongChallenge  = 106
	gidFingerprintHAT  = 107
	gidCancelEnroll    = 108
	gidAuthIDEmpty     = 109
	gidAuthIDEnroll    = 110
	gidAuthIDRemove    = 111
	gidLockout         = 112
	gidLockoutExpiry   = 113
	gidKeymaster       = 114
	enrollAndAuthNeeds = NeedGatekeeper | NeedSensor
)

func fpemuCases() []caseDef {
	c := func(name string, needs Need, doc string, run func(*T)) caseDef {
		return caseDef{Case: Case{Suite: SuiteFpemu, Name: name, Doc: doc, Needs: needs}, run: run}
	}
	expiry := c("LockoutExpiryTest", enrollAndAuthNeeds,
		"the timed lockout lasts FAIL_LOCKOUT_TIMEOUT_MS (30 s): still refused 28 s after ERROR_LOCKOUT, and the genuine finger authenticates 31 s after it (takes ~32 s; the HIDL north API has no clock control; deselect with --skip LockoutExpiry)",
		lockoutExpiryTest)
	expiry.Limit = time.Minute
	return []caseDef{
		c("EnrollTest", enrollAndAuthNeeds,
			"a valid enroll round trip: preEnroll, Gatekeeper PASSWORD HAT for the challenge, enroll(hat, gid, 60) with the finger on the sensor: SYS_OK, onEnrollResult(fid != 0, gid, remaining) counting down to 0 with no onError, postEnroll SYS_OK, enumerate lists exactly the new fid",
			enrollTest),
		c("AuthenticateTest", enrollAndAuthNeeds,
			"authenticate(op, gid) with the enrolled finger: onAuthenticated(fid, gid, 69-byte HAT) whose HAT has version 0, challenge = op (AIDL ISession.authenticate), user_id = the Gatekeeper SID of the enroll HAT, authenticator_id = getAuthenticatorId(), authenticator_type = FINGERPRINT, a timestamp not before the enroll HAT's and a non-zero MAC",
			authenticateTest),
		c("AuthenticateKeymasterTest", enrollAndAuthNeeds|NeedKeymaster,
			"the authenticate HAT unlocks what Keystore binds to it: a Keymaster per-operation key with USER_SECURE_ID = getAuthenticatorId() and USER_AUTH_TYPE = FINGERPRINT signs with the HAT of authenticate(its operation handle) — Keymaster verifies the MAC under the device's auth-token key (the one check a REE harness cannot make itself)",
			authenticateKeymasterTest),
		c("AuthenticateRejectTest", enrollAndAuthNeeds,
			"an impostor finger is rejected with onAuthenticated(fingerId 0, gid, empty token) and the authentication goes on: the genuine finger then matches (HIDL 2.1 default wrapper: fid 0 = rejection)",
			authenticateRejectTest),
		c("EnrollReplayedHatTest", enrollAndAuthNeeds,
			"the HAT of a completed enrollment, replayed after postEnroll (which invalidates the challenge, fingerprint.h post_enroll), is refused: onError within 3 s, no onEnrollResult although a finger is on the sensor, templates and authenticator_id unchanged",
			enrollReplayedHatTest),
		c("EnrollRevokedChallengeHatTest", NeedGatekeeper,
			"a genuine PASSWORD HAT whose challenge was revoked by postEnroll before use is refused while a newer challenge is outstanding: onError within 3 s, nothing enrolled (with --sensor, a finger is on the sensor throughout)",
			enrollRevokedChallengeHatTest),
		c("EnrollWrongChallengeHatTest", NeedGatekeeper,
			"a genuine PASSWORD HAT for another challenge than the outstanding preEnroll one is refused (AIDL ISession.enroll: the challenge must be a valid outstanding one): onError within 3 s, nothing enrolled",
			enrollWrongChallengeHatTest),
		c("EnrollFingerprintHatTest", enrollAndAuthNeeds,
			"a genuine FINGERPRINT HAT (from authenticate with operation_id = the outstanding challenge) is refused for enroll: only a credential (PASSWORD) HAT may authorize an enrollment; onError within 3 s, nothing enrolled",
			enrollFingerprintHatTest),
		c("EnrollCancelTest", enrollAndAuthNeeds,
			"cancel() during an enrollment waiting for the finger ends it with onError(ERROR_CANCELED), stores nothing, and keeps the challenge valid (fingerprint.h cancel: does NOT invalidate the challenge): the same HAT then enrolls",
			enrollCancelTest),
		c("AuthenticatorIdEmptyTest", 0,
			"getAuthenticatorId() is 0 with no template in the group (AIDL IFingerprint; fpemu docs/protocol.md §9.7), and back to 0 once the last template is removed (checked with --gatekeeper and --sensor); a HIDL HAL documented to keep a non-zero id deselects this case with --skip AuthenticatorIdEmpty",
			authenticatorIDEmptyTest),
		c("AuthenticatorIdEnrollTest", enrollAndAuthNeeds,
			"getAuthenticatorId() is non-zero after an enrollment and changes with every new enrollment (IBiometricsFingerprint.hal: \"must change whenever a new fingerprint is enrolled\")",
			authenticatorIDEnrollTest),
		c("AuthenticatorIdRemoveTest", enrollAndAuthNeeds,
			"removing one of two templates leaves getAuthenticatorId() unchanged (AIDL: MUST NOT change when a fingerprint is deleted) and the remaining finger's HAT still carries it",
			authenticatorIDRemoveTest),
		c("LockoutTest", enrollAndAuthNeeds,
			"five consecutive rejections end the authentication with onError(ERROR_LOCKOUT) right after the 5th (LockoutFrameworkImpl MAX_FAILED_ATTEMPTS_LOCKOUT_TIMED), and an attempt during the 30 s window is refused without authenticating the genuine finger",
			lockoutTest),
		expiry,
	}
}

// enrollTest: the valid enroll round trip.
func enrollTest(t *T) {
	t.notify()
	t.fresh(gidEnroll)
	e := t.enroll(gidEnroll, fingerA)
	if fids := t.enumerate(gidEnroll); !slices.Equal(fids, []uint32{e.fid}) {
		t.Errorf("enumerate after enrolling fid %d lists %v", e.fid, fids)
	}
}

// authenticateTest: the authenticate HAT and its fields.
func authenticateTest(t *T) {
	t.notify()
	t.fresh(gidAuthenticate)
	e := t.enroll(gidAuthenticate, fingerA)
	enrollHAT, _ := tokens.Parse(e.hat)
	op := randomID()
	res := t.authenticate(gidAuthenticate, op, probeTouches(fingerA))
	m := res.match
	if m.FingerID != e.fid {
		t.Errorf("%v, want fingerId %d (the enrolled finger)", m, e.fid)
	}
	tok, err := tokens.Parse(m.HAT)
	if err != nil {
		t.Fatalf("onAuthenticated token: %v", err)
	}
	id := t.authenticatorID()
	checkAuthHAT(t, tok, op, t.r.cred.SID(), id, enrollHAT.Timestamp)
}

// checkAuthHAT checks the fields of an authenticate HAT (hw_auth_token.h;
// AIDL ISession.authenticate and getAuthenticatorId).
func checkAuthHAT(t *T, tok tokens.Token, op, sid, authID, notBefore uint64) {
	if tok.Version != tokens.Version {
		t.Errorf("HAT version %d, want %d (HW_AUTH_TOKEN_VERSION)", tok.Version, tokens.Version)
	}
	if tok.Challenge != op {
		t.Errorf("HAT challenge %#x, want the operation id %#x", tok.Challenge, op)
	}
	if tok.UserID != sid {
		t.Errorf("HAT user_id %#x, want the SID %#x of the enroll HAT's credential", tok.UserID, sid)
	}
	if tok.AuthenticatorID != authID {
		t.Errorf("HAT authenticator_id %#x, want getAuthenticatorId() = %#x", tok.AuthenticatorID, authID)
	}
	if authID == 0 {
		t.Errorf("getAuthenticatorId() = 0 with a template enrolled")
	}
	if tok.AuthenticatorType != tokens.AuthFingerprint {
		t.Errorf("HAT authenticator_type %v, want FINGERPRINT", tok.AuthenticatorType)
	}
	if tok.Timestamp == 0 || tok.Timestamp < notBefore {
		t.Errorf("HAT timestamp %d ms, want a boot-clock time not before the enroll HAT's %d ms", tok.Timestamp, notBefore)
	}
	if bytes.Equal(tok.MAC[:], make([]byte, tokens.MACSize)) {
		t.Errorf("HAT MAC is all zero")
	}
}

// authenticateRejectTest: an impostor is rejected, then the owner matches.
func authenticateRejectTest(t *T) {
	t.notify()
	t.fresh(gidReject)
	e := t.enroll(gidReject, fingerA)
	genuine := probeTouches(fingerA)
	stranger := probeTouches(impostor)
	res := t.authenticate(gidReject, randomID(), func(i int) (*finger.Finger, finger.Placement) {
		if i == 0 {
			return stranger(i)
		}
		return genuine(i)
	})
	if res.rejections == 0 {
		t.Errorf("the impostor's touch was not reported as a rejection (onAuthenticated with fingerId 0)")
	}
	if res.match.FingerID != e.fid {
		t.Errorf("%v, want fingerId %d", res.match, e.fid)
	}
}

// refuseEnroll runs enroll(hat, gid, 60) — with a finger on the sensor
// when there is one, so that a HAL that accepts the HAT visibly enrolls —
// and requires a refusal: a status other than SYS_OK, or SYS_OK and an
// onError within 3 s before any onEnrollResult. Then the group's templates
// and authenticator id must be unchanged.
func (t *T) refuseEnroll(gid uint32, hat []byte, what string) {
	t.listen()
	before := t.enumerate(gid)
	idBefore := t.authenticatorID()
	var fd *feeder
	if t.r.sensor != nil {
		fd = t.feed(enrollTouches(fingerB))
	}
	st, err := t.hal.Enroll(t.ctx, hat, gid, EnrollTimeoutSec)
	if err != nil {
		t.Fatalf("enroll(%s): %v", what, err)
	}
	if st == hidl.SysOK {
		t.await("onError refusing "+what, func(cb hidl.Callback) verdict {
			switch c := cb.(type) {
			case hidl.OnAcquired:
				return more
			case hidl.OnError:
				if c.Error == hidl.ErrorNoError || c.Error == hidl.ErrorCanceled || c.Error == hidl.ErrorTimeout {
					t.Fatalf("enroll(%s) ended with %v, want a refusal of the HAT", what, c)
				}
				return done
			case hidl.OnEnrollResult:
				t.Fatalf("enroll(%s) was accepted: %v", what, c)
			}
			t.Fatalf("enroll(%s): unexpected %v", what, cb)
			return more
		})
	}
	if fd != nil {
		t.stop(fd)
	}
	if after := t.enumerate(gid); !slices.Equal(after, before) {
		t.Errorf("templates changed from %v to %v after enroll(%s)", before, after, what)
	}
	if id := t.authenticatorID(); id != idBefore {
		t.Errorf("getAuthenticatorId() changed from %#x to %#x after enroll(%s)", idBefore, id, what)
	}
}

// enrollReplayedHatTest: the HAT of a completed enrollment, after
// postEnroll.
func enrollReplayedHatTest(t *T) {
	t.notify()
	t.fresh(gidReplay)
	e := t.enroll(gidReplay, fingerA)
	t.refuseEnroll(gidReplay, e.hat, "the HAT of a completed enrollment, after postEnroll")
}

// enrollRevokedChallengeHatTest: a HAT whose challenge postEnroll revoked.
func enrollRevokedChallengeHatTest(t *T) {
	t.notify()
	t.fresh(gidRevoked)
	old := t.preEnroll()
	hat := t.passwordHAT(old).Marshal()
	st, err := t.hal.PostEnroll(t.ctx)
	t.must(st, err, "postEnroll()")
	if c := t.preEnroll(); c == old {
		t.Fatalf("preEnroll() after postEnroll returned the revoked challenge again")
	}
	t.refuseEnroll(gidRevoked, hat, "a HAT for a challenge revoked by postEnroll")
}

// enrollWrongChallengeHatTest: a HAT for another challenge.
func enrollWrongChallengeHatTest(t *T) {
	t.notify()
	t.fresh(gidWrongChallenge)
	c := t.preEnroll()
	other := c ^ randomID()
	if other == 0 || other == c {
		other = c + 1
	}
	t.refuseEnroll(gidWrongChallenge, t.passwordHAT(other).Marshal(), "a PASSWORD HAT for another challenge")
}

// enrollFingerprintHatTest: a FINGERPRINT HAT for the outstanding
// challenge.
func enrollFingerprintHatTest(t *T) {
	t.notify()
	t.fresh(gidFingerprintHAT)
	t.enroll(gidFingerprintHAT, fingerA)
	c := t.preEnroll()
	res := t.authenticate(gidFingerprintHAT, c, probeTouches(fingerA))
	t.refuseEnroll(gidFingerprintHAT, res.match.HAT, "a FINGERPRINT HAT for the outstanding challenge")
}

// enrollCancelTest: cancel during an enrollment keeps the challenge.
func enrollCancelTest(t *T) {
	t.notify()
	t.fresh(gidCancelEnroll)
	c := t.preEnroll()
	hat := t.passwordHAT(c).Marshal()
	st, err := t.hal.Enroll(t.ctx, hat, gidCancelEnroll, EnrollTimeoutSec)
	t.must(st, err, "enroll(hat, %d, %d)", gidCancelEnroll, EnrollTimeoutSec)
	if err := t.waitForCapture(); err != nil {
		t.Fatalf("enrollment with a valid HAT did not start reading the sensor within %v: %v", Timeout, err)
	}
	st, err = t.hal.Cancel(t.ctx)
	t.must(st, err, "cancel()")
	t.await("onError(ERROR_CANCELED)", func(cb hidl.Callback) verdict {
		switch c := cb.(type) {
		case hidl.OnAcquired:
			return more
		case hidl.OnError:
			if c.Error != hidl.ErrorCanceled {
				t.Fatalf("cancel() during enroll: %v, want ERROR_CANCELED", c)
			}
			return done
		}
		t.Fatalf("cancel() during enroll: unexpected %v", cb)
		return more
	})
	if fids := t.enumerate(gidCancelEnroll); len(fids) != 0 {
		t.Fatalf("a cancelled enrollment stored %v", fids)
	}
	fid := t.enrollWith(gidCancelEnroll, fingerA, hat)
	if fids := t.enumerate(gidCancelEnroll); !slices.Equal(fids, []uint32{fid}) {
		t.Errorf("after re-enrolling with the same HAT, enumerate lists %v, want [%d]", fids, fid)
	}
}

// waitForCapture waits up to Timeout until the fingerprint TA reads the
// sensor (a capture waits for a finger): the operation has started.
func (t *T) waitForCapture() error {
	ctx, cancel := context.WithTimeout(t.ctx, Timeout)
	defer cancel()
	return t.r.sensor.WaitForCapture(ctx, 1)
}
