package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// The user of the demo device: Android user 0, whose fingerprint group is
// 0 (the framework passes the user id as the group id).
const (
	uid uint32 = 0
	gid uint32 = 0
)

// errUnexpected marks a callback the step did not expect.
var errUnexpected = errors.New("unexpected callback")

// only is the demo's observer of a flow: any event but the operation's
// own (want, ACQUIRED and ERROR) is a deviation of the HAL.
func only(want fpproto.MsgType) drive.Observer {
	return func(e fpproto.Event) error {
		switch e.Type {
		case want, fpproto.MsgAcquired, fpproto.MsgError:
			return nil
		}
		return fmt.Errorf("%w: %v", errUnexpected, e)
	}
}

// enrollFinger runs enroll(hat, gid) through the HAL and plays the user
// (drive.Enroll): a touch of f for every sample the TA asks for, none
// queued ahead.
func (r *runner) enrollFinger(ctx context.Context, f *finger.Finger, hat []byte) (drive.Enrolled, error) {
	return drive.Enroll(ctx, r.fp, r.sen, f, hat, gid, only(fpproto.MsgTemplateEnrolling))
}

// genuinePlacement is an everyday, well-placed touch: near the centre,
// slightly rotated, deterministic in noise.
func genuinePlacement(noise uint64) finger.Placement {
	rng := rand.New(rand.NewPCG(noise, 0x746f756368)) // "touch"
	p := finger.Nominal
	p.DX = rng.NormFloat64() * 5
	p.DY = rng.NormFloat64() * 5
	p.Rotation = rng.NormFloat64() * 4
	p.Quality = 0.9
	p.Noise = noise
	return p
}

// maxGenuineRetries bounds the touches of a genuine authentication after
// the first.
const maxGenuineRetries = 3

// touchAndAuthenticate puts f on the sensor (placement from noise) and
// starts authenticate(op, gid) through the HAL, which must answer SYS_OK.
func (r *runner) touchAndAuthenticate(ctx context.Context, op uint64, f *finger.Finger, noise uint64) error {
	if err := r.sen.Touch(ctx, f, genuinePlacement(noise)); err != nil {
		return err
	}
	return r.fp.Authenticate(ctx, op, gid)
}

// authenticate runs authenticate(op, gid) through the HAL with genuine
// touches of f (drive.Authenticate) and waits for onAuthenticated with a
// finger id; another touch follows a rejection, at most
// maxGenuineRetries.
func (r *runner) authenticate(ctx context.Context, op uint64, f *finger.Finger, noise uint64) (drive.Authenticated, error) {
	return drive.Authenticate(ctx, r.fp, r.sen, f, op, gid, genuineTouches(noise))
}

// genuineTouches is how the demo's user authenticates: genuine
// placements varying with noise and the touch, at most maxGenuineRetries
// after the first, and no event but the operation's own.
func genuineTouches(noise uint64) drive.AuthOptions {
	return drive.AuthOptions{
		Place:   func(n int) finger.Placement { return genuinePlacement(noise + uint64(n)<<32) },
		Touches: 1 + maxGenuineRetries,
		Observe: only(fpproto.MsgAuthenticated),
	}
}

// rejected is what an impostor's authentication showed.
type rejected struct {
	rejections int
	acquired   int
	end        hidl.OnError // the error that ended it (zero if none)
}

// impostorUntil runs authenticate(op, gid) with touches of the impostor
// finger: after each rejection (onAuthenticated with fid 0 and no token)
// another touch, until stop says enough or an onError ends it. A match is
// an error. When stop ends it, the authentication is still running.
func (r *runner) impostorUntil(ctx context.Context, op uint64, impostor *finger.Finger, stop func(rejections int) bool) (rejected, error) {
	var res rejected
	const noise = uint64(0x1a4057e4)
	if err := r.touchAndAuthenticate(ctx, op, impostor, noise); err != nil {
		return res, err
	}
	for {
		cb, err := r.cbs.Next(ctx)
		if err != nil {
			return res, fmt.Errorf("waiting for authenticate callbacks: %w", err)
		}
		switch c := cb.(type) {
		case hidl.OnAcquired:
			res.acquired++
		case hidl.OnAuthenticated:
			if !c.Rejected() {
				return res, fmt.Errorf("impostor accepted as finger %d", c.FingerID)
			}
			if len(c.Token) != 0 {
				return res, fmt.Errorf("rejection carries a %d-byte token (HIDL 2.1: empty)", len(c.Token))
			}
			res.rejections++
			if stop(res.rejections) {
				return res, nil
			}
			// A rejection does not end the authentication (legacy HAL):
			// the impostor tries again, unless this failure locked the
			// sensor out, which an onError says next.
			if res.rejections%fpproto.LockoutTimedAttempts != 0 {
				if err := r.sen.Touch(ctx, impostor, genuinePlacement(noise+uint64(res.rejections))); err != nil {
					return res, err
				}
			}
		case hidl.OnError:
			res.end = c
			return res, nil
		default:
			return res, fmt.Errorf("%w during authenticate: %v", errUnexpected, cb)
		}
	}
}

// sensorIdle checks that no sample is left queued on the sensor.
func (r *runner) sensorIdle(ctx context.Context) error {
	st, err := r.sen.Status(ctx)
	if err != nil {
		return err
	}
	if st.Queued != 0 {
		return fmt.Errorf("%d samples left on the sensor", st.Queued)
	}
	return nil
}

// checkHAT checks what the REE can check of a fingerprint HAT (it has no
// MAC key; Keymaster and the TAs check the MAC): 69 bytes, version 0,
// challenge = the operation id, FINGERPRINT, user_id = the SID bound at
// enrollment, authenticator_id = getAuthenticatorId().
func checkHAT(hat []byte, op, sid, authID uint64) (tokens.Token, error) {
	t, err := tokens.Parse(hat)
	if err != nil {
		return t, err
	}
	switch {
	case t.Version != 0:
		return t, fmt.Errorf("HAT version %d, want 0", t.Version)
	case t.Challenge != op:
		return t, fmt.Errorf("HAT challenge %#x, want operation id %#x", t.Challenge, op)
	case t.AuthenticatorType != tokens.AuthFingerprint:
		return t, fmt.Errorf("HAT authenticator type %v, want FINGERPRINT", t.AuthenticatorType)
	case t.UserID != sid:
		return t, fmt.Errorf("HAT user_id %#x, want the PIN's SID %#x", t.UserID, sid)
	case t.AuthenticatorID != authID:
		return t, fmt.Errorf("HAT authenticator_id %#x, want %#x", t.AuthenticatorID, authID)
	}
	return t, nil
}
