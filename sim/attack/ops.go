package attack

import (
	"context"
	"errors"
	"fmt"
	"time"

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// opTimeout bounds one wait for a fingerprint event (drive.OpTimeout).
const opTimeout = drive.OpTimeout

// The synthetic fingers of the attacks (sim/finger; deterministic seeds).
// fingerA is the victim's, enrolled in group 0; fingerB is the attacker's
// or a second user's.
var (
	fingerA = finger.New(0xA11CE)
	fingerB = finger.New(0xB0B)
	fingerC = finger.New(0xC4A5E)
)

// touch presents one clean, slightly shifted impression of f; n varies
// the noise.
func touch(ctx context.Context, sen *simdev.Sensor, f *finger.Finger, n int) error {
	return sen.Touch(ctx, f, drive.Shifted(n))
}

// pin is a user's password enrolled with Gatekeeper (drive.PIN): what
// the framework verifies to get the PASSWORD HAT an enrollment needs. gk
// is the session it was enrolled over, for enrolling other users.
type pin struct {
	*drive.PIN
	gk rpc.Invoker
}

// enrollPIN enrolls user 0's PIN.
func enrollPIN(ctx context.Context, gk rpc.Invoker) (*pin, error) {
	return enrollUserPIN(ctx, gk, 0, []byte("1234"))
}

// enrollUserPIN enrolls password for Gatekeeper user uid.
func enrollUserPIN(ctx context.Context, gk rpc.Invoker, uid uint32, password []byte) (*pin, error) {
	p, err := drive.EnrollPIN(ctx, gk, uid, password)
	if err != nil {
		return nil, err
	}
	return &pin{PIN: p, gk: gk}, nil
}

// hat verifies the PIN with challenge and returns Gatekeeper's HAT,
// marshalled and unchecked: the suite judges what Gatekeeper minted.
func (p *pin) hat(ctx context.Context, challenge uint64) ([]byte, error) {
	t, err := p.Verify(ctx, challenge)
	if err != nil {
		return nil, err
	}
	return t.Marshal(), nil
}

// enrollFinger runs the honest enrollment of f into gid: PRE_ENROLL,
// Gatekeeper VERIFY with the challenge, ENROLL with the HAT and a touch
// for every sample the TA asks for (drive.Enroll), POST_ENROLL. It
// returns the new finger id.
func enrollFinger(ctx context.Context, fp drive.Fingerprint, sen *simdev.Sensor, p *pin, gid uint32, f *finger.Finger) (uint32, error) {
	c, err := fp.PreEnroll(ctx)
	if err != nil {
		return 0, err
	}
	hat, err := p.hat(ctx, c)
	if err != nil {
		return 0, err
	}
	res, err := drive.Enroll(ctx, fp, sen, f, hat, gid, nil)
	if err != nil {
		return 0, err
	}
	return res.FingerID, fp.PostEnroll(ctx)
}

// authenticate presents f and runs AUTHENTICATE(op, gid)
// (drive.Authenticate). It returns the AUTHENTICATED event of a match
// (with its HAT), a *drive.OpError when the TA ends the operation with an
// error, or drive.ErrNoMatch after drive.DefaultAuthTouches rejected
// touches (the operation is then cancelled).
func authenticate(ctx context.Context, fp drive.Fingerprint, sen *simdev.Sensor, f *finger.Finger, op uint64, gid uint32) (fpproto.Event, error) {
	res, err := drive.Authenticate(ctx, fp, sen, f, op, gid, drive.AuthOptions{})
	return res.Event, err
}

// errNotJudged: an enrollment attempt neither ended with an error nor
// started capturing.
var errNotJudged = errors.New("enroll neither refused nor started capturing")

// tryEnroll starts an enrollment with hat and no finger on the sensor. It
// returns the *opError the TA ended it with (the HAT was refused), or nil
// when the TA accepted the HAT and began waiting for a finger — then the
// operation is cancelled, so nothing is stored either way.
func tryEnroll(ctx context.Context, fp drive.Fingerprint, sen *simdev.Sensor, hat []byte, gid uint32) error {
	if err := sen.Reset(ctx); err != nil {
		return err
	}
	if err := fp.Enroll(ctx, hat, gid); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for {
		e, ok, err := fp.Next(ctx, 20*time.Millisecond)
		if err != nil {
			return fmt.Errorf("%w: %w", errNotJudged, err)
		}
		if ok && e.Type == fpproto.MsgError {
			return drive.EventError(e)
		}
		st, err := sen.Status(ctx)
		if err != nil {
			return fmt.Errorf("%w: sensor: %w", errNotJudged, err)
		}
		if st.Waiting > 0 {
			return drive.CancelOp(ctx, fp)
		}
	}
}

// fixture is a device with user 0's PIN and finger A enrolled in group 0,
// group 0 active.
type fixture struct {
	dev    *device
	fp     drive.Fingerprint
	sen    *simdev.Sensor
	pin    *pin
	fid    uint32
	authID uint64
}

// viaHAL is setup through the honest HAL, asHAL setup with the attacker
// in the HAL's place; both as fixtures for given.
func viaHAL(restart simdev.RestartPolicy) func(*runner, context.Context, *tally) *fixture {
	return func(r *runner, ctx context.Context, t *tally) *fixture { return r.setup(ctx, t, true, restart) }
}

func asHAL(restart simdev.RestartPolicy) func(*runner, context.Context, *tally) *fixture {
	return func(r *runner, ctx context.Context, t *tally) *fixture { return r.setup(ctx, t, false, restart) }
}

// enrollHAT opens an enrollment (PRE_ENROLL) and has the owner's PIN
// verified for its challenge: the challenge and the PASSWORD HAT that
// ENROLL needs. Failures are recorded in t.
func (fx *fixture) enrollHAT(ctx context.Context, t *tally) (uint64, []byte, bool) {
	c, err := fx.fp.PreEnroll(ctx)
	if !t.must("preEnroll", err) {
		return 0, nil, false
	}
	hat, err := fx.pin.hat(ctx, c)
	return c, hat, t.must("gatekeeper VERIFY", err)
}

// setup boots a device (TAs and HAL) and enrolls user 0's PIN and finger
// A in group 0 — through the honest HAL when viaHAL, else as the HAL
// (taking its place). Failures are recorded in t; it returns nil then.
func (r *runner) setup(ctx context.Context, t *tally, viaHAL bool, restart simdev.RestartPolicy) *fixture {
	dev, err := r.boot(ctx, true, restart)
	if !t.must("boot device", err) {
		return nil
	}
	fx := &fixture{dev: dev}
	if viaHAL {
		fx.fp, err = dev.halDriver(ctx)
	} else {
		fx.fp, err = dev.taDriver(ctx)
	}
	if !t.must("fingerprint driver", err) {
		return nil
	}
	fx.sen, err = dev.sensor(ctx)
	if !t.must("sensor", err) {
		return nil
	}
	gk, err := dev.session(ctx, tee.RoleGatekeeper)
	if !t.must("gatekeeper", err) {
		return nil
	}
	if fx.pin, err = enrollPIN(ctx, gk); !t.must("PIN enroll", err) {
		return nil
	}
	if !t.must("set active group", fx.fp.SetActiveGroup(ctx, 0, r.storePath())) {
		return nil
	}
	if fx.fid, err = enrollFinger(ctx, fx.fp, fx.sen, fx.pin, 0, fingerA); !t.must("enroll finger A", err) {
		return nil
	}
	if fx.authID, err = fx.fp.AuthenticatorID(ctx); !t.must("authenticator id", err) {
		return nil
	}
	if fx.authID == 0 {
		t.brokef("authenticator id is 0 after an enrollment")
		return nil
	}
	return fx
}
