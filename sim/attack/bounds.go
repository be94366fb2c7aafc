package attack

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/wire"
)

// The resource rows (issue 8, "Bounded resources"): each floods the
// Keymaster TA with what a local client can make a TA host or TA hold,
// and judges survival by a genuine client's signing operation — GENERATE_KEY,
// BEGIN, FINISH on a key without user authentication — during and after.

// Sizes of the resource rows.
const (
	// floodExtra is how many connections conn-flood opens beyond the cap.
	floodExtra = 32
	// busyWait bounds how long an over-cap connection may take to be
	// answered.
	busyWait = 3 * time.Second
	// stalledConns is how many connections stalled-frames opens.
	stalledConns = 1000
	// stallWriteFor is how long each stalled-frames writer writes.
	stallWriteFor = 2 * time.Second
)

// stalledRSSLimit is issue 8's bound on the RSS growth stalled-frames may
// cause (a variable so that a race-detector build, whose memory use is
// several times larger, can relax it in tests).
var stalledRSSLimit int64 = 64 << 20

// genuineSign is the control: a new client signs with a fresh key.
func genuineSign(ctx context.Context, d *device) error {
	km, err := d.session(ctx, tee.RoleKeymaster)
	if err != nil {
		return err
	}
	k, err := noAuthKey(ctx, km)
	if err != nil {
		return fmt.Errorf("GENERATE_KEY: %w", err)
	}
	h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, km)
	if err != nil {
		return fmt.Errorf("BEGIN: %w", err)
	}
	if _, err := (kmproto.Finish{Handle: h, Input: payMsg}).Execute(ctx, km); err != nil {
		return fmt.Errorf("FINISH: %w", err)
	}
	return nil
}

// noAuthKey generates a P-256 signing key usable without authentication.
func noAuthKey(ctx context.Context, km rpc.Invoker) (*kmproto.GenerateKeyResponse, error) {
	return kmproto.GenerateKey{Params: kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(kmproto.CurveP256),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(kmproto.DigestSHA256),
		kmproto.NoAuthRequiredParam(),
	}}.Execute(ctx, km)
}

// keymasterTarget boots a device whose Keymaster a genuine client signs
// with (the control) and returns it with the Keymaster TA's pid and socket.
func (r *runner) keymasterTarget(ctx context.Context, t *tally) (d *device, pid int, sock string, ok bool) {
	d, err := r.boot(ctx, false, simdev.RestartPolicy{})
	if !t.must("boot", err) || !t.must("control: a genuine client signs", genuineSign(ctx, d)) {
		return nil, 0, "", false
	}
	pid, err = d.sim.PID(tee.RoleKeymaster)
	if !t.must("keymaster pid", err) {
		return nil, 0, "", false
	}
	return d, pid, d.sim.SocketPath(tee.RoleKeymaster), true
}

// alive checks that role's TA process is still the one booted.
func alive(t *tally, d *device, role tee.Role, pid int) bool {
	now, err := d.sim.PID(role)
	if err != nil || now != pid {
		t.breachf("the %s TA process %d died (now %d, %v)", role, pid, now, err)
		return false
	}
	return true
}

var connFlood = attack{
	Info: Info{
		ID: "conn-flood",
		Attack: fmt.Sprintf("hold %d idle connections to the Keymaster TA (its cap), then open %d more that each send OPEN_SESSION",
			rpc.DefaultMaxConns, floodExtra),
		Defence: "TA host connection cap (docs/protocol.md §1.6): every connection beyond it answered TEEC_ERROR_BUSY (GPD_SPE_007 §4.4.2) and closed, the TA never dies, a genuine client is served once the flood closes",
		Want:    Survived,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		d, pid, sock, ok := r.keymasterTarget(ctx, t)
		if !ok {
			return
		}
		var flood []net.Conn
		defer func() {
			for _, c := range flood {
				c.Close()
			}
		}()
		for range rpc.DefaultMaxConns {
			c, err := net.Dial("unix", sock)
			if !t.must("flood connection", err) {
				return
			}
			flood = append(flood, c)
		}
		var busy, other atomic.Int32
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstOther string
		for range floodExtra {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, busyWait)
				defer cancel()
				c, err := rpc.Dial(cctx, sock)
				if err == nil {
					defer c.Close()
					_, err = c.OpenSession(cctx, tee.UUIDKeymaster, nil)
				}
				var te *tee.Error
				if errors.As(err, &te) && te.Code == tee.ResultBusy && te.Origin == tee.OriginTEE {
					busy.Add(1)
					return
				}
				other.Add(1)
				mu.Lock()
				if firstOther == "" {
					firstOther = describe(err)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if n := other.Load(); n > 0 {
			t.breachf("%d of %d connections beyond the cap were not refused with TEEC_ERROR_BUSY within %v (first answer: %s)", n, floodExtra, busyWait, firstOther)
		} else {
			t.heldf("%d connections beyond the cap → TEEC_ERROR_BUSY", floodExtra)
		}
		if !alive(t, d, tee.RoleKeymaster, pid) {
			return
		}
		for _, c := range flood {
			c.Close()
		}
		flood = nil
		var last error
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if last = genuineSign(ctx, d); last == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if last != nil {
			t.breachf("a genuine client is not served after the flood closed: %s", describe(last))
			return
		}
		t.heldf("a genuine client signs after the flood")
		t.summarize("%d connections held, %d beyond → TEEC_ERROR_BUSY; TA alive; a genuine client signs after the flood", rpc.DefaultMaxConns, floodExtra)
	},
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

var stalledFrames = attack{
	Info: Info{
		ID:      "stalled-frames",
		Attack:  fmt.Sprintf("%d connections to the Keymaster TA each send a 1 MiB frame but its last byte, and stall", stalledConns),
		Defence: "frame buffering (docs/protocol.md §1.6): memory grows only with bytes received and large frames share an 8 MiB budget, so the TA's RSS grows < 64 MiB and a genuine client is served meanwhile",
		Want:    Survived,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		d, pid, sock, ok := r.keymasterTarget(ctx, t)
		if !ok {
			return
		}
		base, err := vmRSS(pid)
		if !t.must("RSS", err) {
			return
		}
		conns := make([]net.Conn, 0, stalledConns)
		closeAll := sync.OnceFunc(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		defer closeAll()
		for range stalledConns {
			c, err := net.Dial("unix", sock)
			if !t.must("connection", err) {
				return
			}
			conns = append(conns, c)
		}
		frame := make([]byte, wire.LengthLen+wire.MaxFrameLen-1)
		binary.BigEndian.PutUint32(frame, wire.MaxFrameLen)
		frame[4], frame[5] = wire.Version, byte(wire.OpInvoke)

		// Watch the RSS while the frames go out; stop the attack as soon
		// as it exceeds the bound (a TA without one would take ~1 GiB).
		var peak atomic.Int64
		over := make(chan struct{})
		done := make(chan struct{})
		stopWatch := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				rss, err := vmRSS(pid)
				if err == nil && rss-base > peak.Load() {
					peak.Store(rss - base)
				}
				if peak.Load() >= stalledRSSLimit {
					close(over)
					return
				}
				select {
				case <-tick.C:
				case <-stopWatch:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
		deadline := time.Now().Add(stallWriteFor)
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetWriteDeadline(deadline)
				_, _ = c.Write(frame)
			}()
		}
		go func() {
			select {
			case <-over:
				closeAll()
			case <-done:
			}
		}()
		wg.Wait()
		select {
		case <-over:
		default:
			if err := genuineSign(ctx, d); err != nil {
				t.breachf("a genuine client is not served while %d frames stall: %s", stalledConns, describe(err))
			} else {
				t.heldf("a genuine client signs while %d frames stall", stalledConns)
			}
		}
		close(stopWatch)
		<-done
		if rss, err := vmRSS(pid); err == nil && rss-base > peak.Load() {
			peak.Store(rss - base)
		}
		switch {
		case peak.Load() >= stalledRSSLimit:
			t.breachf("the Keymaster TA's RSS grew by %d MiB (≥ %d MiB)", peak.Load()>>20, stalledRSSLimit>>20)
		default:
			t.heldf("RSS grew by %d MiB", peak.Load()>>20)
		}
		closeAll()
		if alive(t, d, tee.RoleKeymaster, pid) {
			t.summarize("%d frames stalled 1 byte short of 1 MiB: the TA's RSS grew by %d MiB (< %d); a genuine client signs meanwhile",
				stalledConns, peak.Load()>>20, stalledRSSLimit>>20)
		}
	},
}

var kmOpExhaust = attack{
	Info: Info{
		ID:      "km-op-exhaust",
		Attack:  fmt.Sprintf("one client begins %d Keymaster operations (every slot) and keeps beginning more", kmproto.OperationSlots),
		Defence: "keystore2-style operation pruning (docs/protocol.md §2.1): another client's BEGIN prunes the hog's least recently used operation, and the hog cannot prune it back",
		Want:    Survived,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		d, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if !t.must("boot", err) {
			return
		}
		hog, err := d.session(ctx, tee.RoleKeymaster)
		if !t.must("attacker session", err) {
			return
		}
		k, err := noAuthKey(ctx, hog)
		if !t.must("attacker GENERATE_KEY", err) {
			return
		}
		for i := range kmproto.OperationSlots {
			if _, err := (kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}).Execute(ctx, hog); !t.must(fmt.Sprintf("attacker BEGIN %d", i+1), err) {
				return
			}
		}
		victim, err := d.session(ctx, tee.RoleKeymaster)
		if !t.must("genuine session", err) {
			return
		}
		vk, err := noAuthKey(ctx, victim)
		if !t.must("genuine GENERATE_KEY", err) {
			return
		}
		h, err := kmproto.Begin{Blob: vk.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, victim)
		if err != nil {
			t.breachf("a second client cannot BEGIN while one holds every slot: %s", describe(err))
			return
		}
		t.heldf("a second client's BEGIN with every slot held → accepted")
		for i := range 2 * kmproto.OperationSlots {
			if _, err := (kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}).Execute(ctx, hog); err != nil {
				t.brokef("attacker BEGIN %d after pruning: %s", i+1, describe(err))
				return
			}
		}
		if _, err := (kmproto.Finish{Handle: h, Input: payMsg}).Execute(ctx, victim); err != nil {
			t.breachf("the second client's operation did not survive %d more attacker BEGINs: FINISH %s", 2*kmproto.OperationSlots, describe(err))
			return
		}
		t.heldf("its operation survives %d more attacker BEGINs and FINISHes", 2*kmproto.OperationSlots)
		t.summarize("one client held all %d slots; a second client still began, and finished after %d more attacker BEGINs",
			kmproto.OperationSlots, 2*kmproto.OperationSlots)
	},
}
