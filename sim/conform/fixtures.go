package conform

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// GatekeeperUID is the Android user whose lock-screen credential conform
// enrolls in the device's Gatekeeper (a random password, fresh each run,
// deleted at the end): the SID of every template conform enrolls.
const GatekeeperUID = 99

// credential is conform's lock-screen credential in the device's
// Gatekeeper: what gatekeeperd holds for a user. It turns an enroll
// challenge into a PASSWORD HAT, as LockSettingsService does before a
// fingerprint enrollment (Gatekeeper verify(challenge); AOSP
// §7).
type credential struct {
	client *rpc.Client
	pin    *drive.PIN
}

// openCredential enrolls a random password for uid in the Gatekeeper TA at
// socketPath (docs/protocol.md §3).
func openCredential(ctx context.Context, socketPath string, uid uint32) (*credential, error) {
	c, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		return nil, fmt.Errorf("conform: gatekeeper %s: %w", socketPath, err)
	}
	s, err := c.OpenSession(ctx, tee.UUIDGatekeeper, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("conform: gatekeeper %s: open session: %w", socketPath, err)
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	p, err := drive.EnrollPIN(ctx, s, uid, pw)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("conform: %w", err)
	}
	return &credential{client: c, pin: p}, nil
}

// HAT verifies the credential with challenge: a PASSWORD hw_auth_token_t
// whose challenge is the fingerprint HAL's preEnroll value.
func (c *credential) HAT(ctx context.Context, challenge uint64) (tokens.Token, error) {
	return c.pin.HAT(ctx, challenge)
}

// SID is the user's secure user id, the user_id of its HATs.
func (c *credential) SID() uint64 { return c.pin.SID }

// Close deletes the user from Gatekeeper and closes the connection.
func (c *credential) Close(ctx context.Context) error {
	return errors.Join(c.pin.Delete(ctx), c.client.Close())
}

// Fingers conform presents. They are synthetic (sim/finger), deterministic
// in their seeds; the impostor is a different finger.
var (
	fingerA  = finger.New(0xC0F0_0A)
	fingerB  = finger.New(0xC0F0_0B)
	fingerC  = finger.New(0xC0F0_0C)
	impostor = finger.New(0xC0F0_1F)
)

// touch is the i-th sample a feeder presents.
type touch func(i int) (*finger.Finger, finger.Placement)

// enrollTouches are f's enrollment touches (sim/finger EnrollPlacement:
// the first centred, the rest around it), repeated with fresh noise if
// the HAL asks for more.
func enrollTouches(f *finger.Finger) touch {
	const n = 8
	ps, _ := finger.Touches(f, n, 0)
	return func(i int) (*finger.Finger, finger.Placement) {
		p := ps[i%n]
		p.Noise += uint64(i / n)
		return f, p
	}
}

// probeTouches are careful everyday touches of f near the centre: a
// genuine finger that the matcher accepts at the first or second touch.
func probeTouches(f *finger.Finger) touch {
	return func(i int) (*finger.Finger, finger.Placement) {
		r := mrand.New(mrand.NewPCG(f.Seed, uint64(i)+0x9e3779b9))
		p := finger.Nominal
		p.DX, p.DY = r.NormFloat64()*5, r.NormFloat64()*5
		p.Rotation = r.NormFloat64() * 3
		p.Noise = r.Uint64()
		return f, p
	}
}

// feeder presents touches whenever the fingerprint TA waits for a finger:
// a user who puts a finger on the sensor each time the UI asks.
type feeder struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      int
	err    error
}

// feed starts a feeder on the case's sensor. Stop it (stop) before the
// case ends; the runner resets the sensor after each case.
func (t *T) feed(next touch) *feeder {
	s := t.r.sensor
	if s == nil {
		t.Fatalf("internal: feed without a sensor")
	}
	ctx, cancel := context.WithCancel(t.ctx)
	f := &feeder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.err = f.run(ctx, s, next)
	}()
	return f
}

func (f *feeder) run(ctx context.Context, s *device.Sensor, next touch) error {
	for {
		st, err := s.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sensor status: %w", err)
		}
		if st.Waiting > st.Queued {
			fg, p := next(f.n)
			if err := s.Touch(ctx, fg, p); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("sensor present: %w", err)
			}
			f.n++
			continue
		}
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// stop ends the feeder and returns how many touches it presented; a
// sensor-control failure fails the case.
func (t *T) stop(f *feeder) int {
	f.cancel()
	<-f.done
	if f.err != nil {
		t.Errorf("%v", f.err)
	}
	if err := t.r.sensor.Reset(t.ctx); err != nil && t.ctx.Err() == nil {
		t.Errorf("sensor reset: %v", err)
	}
	return f.n
}

// randomID returns a random non-zero 64-bit value (an operation id).
func randomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.LittleEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// scripted is the case's sensor as sim/drive's flows see it: every touch
// a flow presents is the next of one of conform's touch sequences
// (enrollTouches, probeTouches, or the impostor-then-owner one of
// AuthenticateRejectTest), whatever finger the flow names.
type scripted struct {
	sensor *device.Sensor
	next   touch
	n      int
}

var _ drive.Sensor = (*scripted)(nil)

// Touch presents the next touch of the sequence.
func (s *scripted) Touch(ctx context.Context, _ *finger.Finger, _ finger.Placement) error {
	f, p := s.next(s.n)
	s.n++
	return s.sensor.Touch(ctx, f, p)
}

// Reset empties the sensor queue.
func (s *scripted) Reset(ctx context.Context) error { return s.sensor.Reset(ctx) }

// driver is the case's HAL connection and sensor as sim/drive's flows
// take them, presenting the touches of next; it makes sure a callback is
// registered first.
func (t *T) driver(next touch) (drive.HAL, *scripted) {
	if t.r.sensor == nil {
		t.Fatalf("internal: a fingerprint flow without a sensor")
	}
	t.listen()
	return drive.HAL{Client: t.hal, Callbacks: t.cbs}, &scripted{sensor: t.r.sensor, next: next}
}

// paced holds a flow to VTS's pace on top of check: every callback within
// Timeout of the one before (the first, of the call that starts the
// operation), as VTS's waitForCallback does per step; what names the
// callback awaited.
func (t *T) paced(what string, check drive.Observer) drive.Observer {
	last := time.Now()
	return func(e fpproto.Event) error {
		if gap := time.Since(last); gap > Timeout {
			return fmt.Errorf("no %s within %v (%v came after %v)", what, Timeout, e, gap.Round(time.Millisecond))
		}
		last = time.Now()
		return check(e)
	}
}

// resetSensor empties the sensor queue after a flow; a failure fails the
// case.
func (t *T) resetSensor() {
	if err := t.r.sensor.Reset(t.ctx); err != nil && t.ctx.Err() == nil {
		t.Errorf("sensor reset: %v", err)
	}
}
