package attack

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// Bounds of the fuzz attack.
const (
	// fuzzReplyWait is how long a fuzzed frame may take to be answered
	// before the connection is dropped (a command may legitimately run
	// long, e.g. NEXT_EVENT with a fuzzed wait).
	fuzzReplyWait = 500 * time.Millisecond
	// fuzzReconnectEvery renews the connection (and its session) so the
	// fuzzer does not spend itself on one exhausted connection.
	fuzzReconnectEvery = 100
)

// fuzzTarget is one TA socket.
type fuzzTarget struct {
	name string
	role tee.Role // "" for the sensor-control endpoint
	sock string
	uuid tee.UUID
}

func fuzzTargets(d *device) []fuzzTarget {
	var out []fuzzTarget
	for _, role := range simdev.RunnableRoles {
		u, _ := tee.UUIDOf(role)
		out = append(out, fuzzTarget{name: string(role), role: role, sock: d.sim.SocketPath(role), uuid: u})
	}
	return append(out, fuzzTarget{name: sensorproto.SocketName, sock: d.sim.SensorSocketPath(), uuid: sensorproto.UUID})
}

// fuzzStats counts what the host did with the fuzzed frames of one socket.
type fuzzStats struct {
	sent, answered, badFormat, hungUp, slow int
	// unexpected counts hang-ups on frames whose length prefix was in
	// range: §1.8 says those are answered and the connection kept.
	unexpected int
	// violations are answers the protocol forbids (§1.8): a malformed
	// response, or a response to a frame whose length is out of range.
	violations []string
}

// fuzzConn is a raw connection to a TA socket with one session opened
// properly, so fuzzed INVOKEs reach the TA's commands.
type fuzzConn struct {
	nc      net.Conn
	session uint32
}

func dialFuzz(ctx context.Context, tg fuzzTarget) (*fuzzConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", tg.sock)
	if err != nil {
		return nil, err
	}
	c := &fuzzConn{nc: nc}
	open := wire.Frame{Op: wire.OpOpenSession, RequestID: 0xFFFFFFFF, UUID: tg.uuid}
	b, _ := wire.AppendFrame(nil, &open)
	if err := c.write(b); err != nil {
		nc.Close()
		return nil, err
	}
	resp, err := c.read(time.Now().Add(5 * time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("OPEN_SESSION: %w", err)
	}
	f, err := wire.DecodeFrame(resp)
	if err != nil || f.Result != tee.Success {
		nc.Close()
		return nil, fmt.Errorf("OPEN_SESSION: result %v, %v", f.Result, err)
	}
	c.session = f.Session
	return c, nil
}

func (c *fuzzConn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// read reads one whole frame (length prefix checked before allocating).
func (c *fuzzConn) read(deadline time.Time) ([]byte, error) {
	_ = c.nc.SetReadDeadline(deadline)
	var hdr [wire.LengthLen]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return nil, err
	}
	n, err := wire.FrameLen(hdr[:])
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(c.nc, b[wire.LengthLen:]); err != nil {
		return nil, err
	}
	return b, nil
}

// fuzzSocket sends frames fuzzed frames to tg, answering each read like
// a client that tolerates anything, and reconnecting whenever the host
// hangs up or stalls. It fails only when the socket stops accepting
// connections.
func fuzzSocket(ctx context.Context, tg fuzzTarget, frames int, rng *mrand.Rand) (fuzzStats, error) {
	m := &mutator{rng: rng, uuid: tg.uuid, seeds: seedsFor(tg.role, rng)}
	var st fuzzStats
	var c *fuzzConn
	drop := func() {
		if c != nil {
			c.nc.Close()
			c = nil
		}
	}
	defer drop()
	for i := range frames {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if c == nil || i%fuzzReconnectEvery == 0 {
			drop()
			var err error
			if c, err = dialFuzz(ctx, tg); err != nil {
				return st, fmt.Errorf("%s stopped accepting connections after %d frames: %w", tg.name, st.sent, err)
			}
		}
		ff := m.next(c.session)
		st.sent++
		err := c.write(ff.b)
		if ff.partial {
			drop()
			continue
		}
		var resp []byte
		if err == nil {
			resp, err = c.read(time.Now().Add(fuzzReplyWait))
		}
		switch {
		case err == nil && ff.closes:
			st.violations = append(st.violations, fmt.Sprintf("%s answered a frame whose length prefix is out of range (%x)", tg.name, ff.b[:4]))
			drop()
		case err == nil:
			f, derr := wire.DecodeFrame(resp)
			if derr != nil || f.Op != wire.OpResponse {
				st.violations = append(st.violations, fmt.Sprintf("%s sent a malformed response to a %s frame: %v", tg.name, ff.kind, derr))
				drop()
				continue
			}
			st.answered++
			if f.Result == tee.ResultBadFormat {
				st.badFormat++
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			st.slow++
			drop()
		default:
			st.hungUp++
			if !ff.closes {
				st.unexpected++
				if st.unexpected <= 3 {
					st.violations = append(st.violations, fmt.Sprintf("%s hung up on a %s frame whose length was in range (§1.8: answer BAD_FORMAT, keep the connection): %v", tg.name, ff.kind, err))
				}
			}
			drop()
		}
	}
	return st, nil
}

// aliveCheck runs one valid command on tg's TA through a fresh session,
// and leaves the TA idle (fingerprint operation cancelled, sensor reset)
// so it can stop promptly.
func aliveCheck(ctx context.Context, d *device, tg fuzzTarget) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if tg.role == "" {
		s, err := d.sensor(ctx)
		if err != nil {
			return err
		}
		if err := s.Reset(ctx); err != nil {
			return err
		}
		_, err = s.Status(ctx)
		return err
	}
	s, err := d.session(ctx, tg.role)
	if err != nil {
		return err
	}
	switch tg.role {
	case tee.RoleKeymaster:
		env, err := keyEnvelope(ctx, s, tee.RoleGatekeeper)
		if err == nil && len(env) != 109 {
			err = fmt.Errorf("GET_AUTH_TOKEN_KEY: %d-byte envelope", len(env))
		}
		return err
	case tee.RoleGatekeeper:
		_, err := gkproto.DeleteUser{UID: 0xFA22}.Execute(ctx, s)
		return err
	case tee.RoleFingerprint:
		if _, err := (fpproto.Cancel{}).Execute(ctx, s); err != nil {
			return err
		}
		_, err := fpproto.GetAuthenticatorID{}.Execute(ctx, s)
		return err
	case tee.RolePayment:
		_, err := payproto.GetDeviceCert{}.Execute(ctx, s)
		return err
	}
	return fmt.Errorf("no liveness check for %s", tg.role)
}

var fuzzFrames = attack{
	Info: Info{
		ID:      "fuzz-frames",
		Attack:  "thousands of mutated, truncated, oversized, bad-type frames at every TA socket",
		Defence: "strict frame decoding before allocation, BAD_FORMAT or hang-up (protocol §1.3, §1.8)",
		Want:    Survived,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		dev, err := r.boot(ctx, true, simdev.RestartPolicy{})
		if !t.must("boot device", err) {
			return
		}
		pids := map[tee.Role]int{}
		for _, role := range simdev.RunnableRoles {
			if pids[role], err = dev.sim.PID(role); !t.must("pid", err) {
				return
			}
		}
		seed := r.cfg.FuzzSeed
		if seed == 0 {
			var b [8]byte
			_, _ = crand.Read(b[:]) // never fails (Go ≥ 1.24)
			seed = binary.BigEndian.Uint64(b[:])
		}
		targets := fuzzTargets(dev)
		stats := make([]fuzzStats, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, tg := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := mrand.New(mrand.NewPCG(seed, uint64(i)))
				stats[i], errs[i] = fuzzSocket(ctx, tg, r.cfg.FuzzFrames, rng)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return // interrupted: runOne reports it
		}
		var total fuzzStats
		for i, tg := range targets {
			s := stats[i]
			total.sent += s.sent
			total.answered += s.answered
			total.badFormat += s.badFormat
			total.hungUp += s.hungUp
			total.slow += s.slow
			total.unexpected += s.unexpected
			for _, v := range s.violations {
				t.brokef("seed %#x: %s", seed, v)
			}
			if errs[i] != nil {
				t.breachf("seed %#x: %s", seed, describe(errs[i]))
				continue
			}
			if tg.role != "" {
				pid, err := dev.sim.PID(tg.role)
				if err != nil || pid != pids[tg.role] {
					t.breachf("seed %#x: %s died under fuzzing (pid %d → %d, %v)", seed, tg.name, pids[tg.role], pid, err)
					continue
				}
			}
			if err := aliveCheck(ctx, dev, tg); err != nil {
				t.breachf("seed %#x: %s does not answer a valid command after fuzzing: %s", seed, tg.name, describe(err))
				continue
			}
			t.heldf("%s alive and answering after %d frames", tg.name, s.sent)
		}
		t.summarize("%d frames at %d sockets (seed %#x): %d answered (%d BAD_FORMAT), %d hang-ups on bad lengths, %d slow; every TA alive and answering",
			total.sent, len(targets), seed, total.answered, total.badFormat, total.hungUp, total.slow)
	},
}
