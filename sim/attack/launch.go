package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The rows of this file attack the launcher's hold on the device
// directory and the HAL's callback stream (protocol §7.6, §7.7, §10.3).

// nobody is the foreign uid dir-hijack plays when run as root.
const nobody = 65534

// snapshot lists every path under dir with its type, mode, size, inode
// and times: equal snapshots mean nothing was created or changed.
func snapshot(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d %d %d %d\n", p, fi.Mode(), fi.Size(), st.Ino, st.Uid, fi.ModTime().UnixNano())
		return nil
	})
	return b.String(), err
}

// refusedBoot boots the attack's device expecting a refusal matching
// want: nil is a breach (the device is stopped again), a matching error
// the defence, anything else a failure to judge.
func (r *runner) refusedBoot(ctx context.Context, t *tally, what string, want error, msg string) {
	d, err := r.cfg.boot(ctx, r.simConfig(simdev.RestartPolicy{}, io.Discard))
	if err == nil {
		sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		_ = d.Shutdown(sctx)
		cancel()
		t.breachf("%s: the device booted", what)
		return
	}
	if errors.Is(err, want) && strings.Contains(err.Error(), msg) {
		t.heldf("%s → refused: %s", what, err)
		return
	}
	t.brokef("%s: unexpected error %v (want %v)", what, err, want)
}

var dirHijack = attack{
	Info: Info{
		ID:      "dir-hijack",
		Attack:  "hand the launcher a device directory another user can write to (group-writable; another uid's when root)",
		Defence: "the launcher refuses a --dir not its own or group/other-writable, naming the fix, touching nothing (protocol §7.7)",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		cases := []struct {
			what, fix string
			loosen    func() error
		}{
			{"group-writable directory (0770)", "chmod 700 ", func() error { return os.Chmod(r.dir, 0o770) }},
		}
		if os.Geteuid() == 0 {
			cases = append(cases, struct {
				what, fix string
				loosen    func() error
			}{"directory owned by uid 65534", "use a directory of your own", func() error { return os.Chown(r.dir, nobody, nobody) }})
		}
		for _, c := range cases {
			if !t.must("loosen the directory", c.loosen()) {
				return
			}
			before, err := snapshot(r.dir)
			if !t.must("snapshot", err) {
				return
			}
			r.refusedBoot(ctx, t, c.what, devdir.ErrUnsafeDir, c.fix)
			after, err := snapshot(r.dir)
			if !t.must("snapshot", err) {
				return
			}
			if before != after {
				t.breachf("%s: the launcher changed the directory before refusing", c.what)
			}
			if !t.must("restore the directory", errors.Join(os.Chown(r.dir, os.Geteuid(), os.Getegid()), os.Chmod(r.dir, 0o700))) {
				return
			}
		}
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if !t.must("control: boot in the launcher's own 0700 directory", err) {
			return
		}
		_, err = dev.session(ctx, tee.RoleGatekeeper)
		if !t.must("control: gatekeeper session", err) {
			return
		}
		t.summarize("%d loosened directories refused, untouched, the fix named; the owner's 0700 directory boots", len(cases))
	},
}

var symlinkPlant = attack{
	Info: Info{
		ID:      "symlink-plant",
		Attack:  "plant symbolic links where the device creates files (fused.key, lock, sock/, data/, rpmb/…/counter), then boot",
		Defence: "every path under --dir is checked with lstat and opened O_NOFOLLOW; a link is refused, nothing is written through it (protocol §7.7)",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		victim := filepath.Join(r.dir, "victim")
		if !t.must("victim dir", os.Mkdir(victim, 0o700)) {
			return
		}
		plants := []struct {
			at    string
			isDir bool
		}{
			{"fused.key", false}, {simdev.LockFileName, false}, {devdir.SockDirName, true},
			{devdir.DataDirName, true}, {"rpmb/fingerprint/counter", false}, {"data/fingerprint/fingerprint.db", false},
		}
		for i, p := range plants {
			if !t.must("clean the directory", clearExcept(r.dir, victim)) {
				return
			}
			target := filepath.Join(victim, fmt.Sprint(i))
			var err error
			if p.isDir {
				err = os.Mkdir(target, 0o700)
			} else {
				err = os.WriteFile(target, []byte("the victim's file"), 0o600)
			}
			link := filepath.Join(r.dir, p.at)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(link), 0o700)
			}
			if err == nil {
				err = os.Symlink(target, link)
			}
			if !t.must("plant "+p.at, err) {
				return
			}
			before, err := snapshot(victim)
			if !t.must("snapshot", err) {
				return
			}
			d, err := r.cfg.boot(ctx, r.simConfig(simdev.RestartPolicy{}, io.Discard))
			if err == nil {
				sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
				_ = d.Shutdown(sctx)
				cancel()
			}
			after, serr := snapshot(victim)
			switch {
			case serr != nil:
				t.brokef("snapshot: %v", serr)
				return
			case before != after:
				t.breachf("link at %s: the launcher or a TA wrote through it", p.at)
			case err == nil:
				t.breachf("link at %s: the device booted over it", p.at)
			case strings.Contains(err.Error(), "symbolic link"):
				t.heldf("link at %s → refused", p.at)
			default:
				t.brokef("link at %s: unexpected error %v", p.at, err)
			}
			if !t.must("remove the link", os.Remove(link)) {
				return
			}
		}
		if !t.must("clear the victim", os.RemoveAll(victim)) || !t.must("clean the directory", clearExcept(r.dir, "")) {
			return
		}
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if !t.must("control: boot once the links are gone", err) {
			return
		}
		_, err = dev.session(ctx, tee.RoleGatekeeper)
		if !t.must("control: gatekeeper session", err) {
			return
		}
		t.summarize("%d planted links refused, nothing written through them; the clean directory boots", len(plants))
	},
}

var secondLauncher = attack{
	Info: Info{
		ID:      "second-launcher",
		Attack:  "start a second launcher on the directory of a live device",
		Defence: "the launcher's flock on DIR/lock: \"device already running (pid N)\" at once, nothing touched (protocol §7.7)",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if !t.must("boot the device", err) {
			return
		}
		before, err := snapshot(r.dir)
		if !t.must("snapshot", err) {
			return
		}
		start := time.Now()
		r.refusedBoot(ctx, t, "second launcher", simdev.ErrDeviceRunning, fmt.Sprintf("device already running (pid %d)", os.Getpid()))
		took := time.Since(start)
		after, err := snapshot(r.dir)
		if !t.must("snapshot", err) {
			return
		}
		if before != after {
			t.breachf("the second launcher changed the live device's directory")
		}
		if _, err := dev.session(ctx, tee.RoleGatekeeper); !t.must("control: the live device still serves", err) {
			return
		}
		if !t.must("stop the device", dev.stop()) {
			return
		}
		if _, err := r.boot(ctx, false, simdev.RestartPolicy{}); !t.must("control: the directory boots once the device is down", err) {
			return
		}
		t.summarize("second launcher refused in %v, directory untouched; the live device serves; it boots again once down", took.Round(time.Millisecond))
	},
}

// squatter is a foreign listener on a socket path; it counts connections.
type squatter struct {
	ln    net.Listener
	conns atomic.Int64
}

func squat(path string) (*squatter, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	s := &squatter{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			c.Close()
		}
	}()
	return s, nil
}

// dial connects a client to role's TA through the launcher (Config.Dial
// in a canary).
func (r *runner) dial(ctx context.Context, d *simdev.Device, role tee.Role) (*rpc.Client, error) {
	if r.cfg.Dial != nil {
		return r.cfg.Dial(ctx, d, role)
	}
	return d.Dial(ctx, role)
}

var socketSquat = attack{
	Info: Info{
		ID:      "socket-squat",
		Attack:  "kill -9 the Gatekeeper and bind its socket path before the launcher restarts it; then free it",
		Defence: "readiness and every Dial checked by SO_PEERCRED pid; the restart retries with backoff while the path is taken (protocol §7.6)",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{MaxRestarts: 1, Backoff: 200 * time.Millisecond})
		if !t.must("boot the device", err) {
			return
		}
		pid, err := dev.sim.PID(tee.RoleGatekeeper)
		if !t.must("gatekeeper pid", err) || !t.must("kill -9 the gatekeeper", syscall.Kill(pid, syscall.SIGKILL)) {
			return
		}
		if _, err := dev.waitEvent(ctx, tee.RoleGatekeeper, simdev.EventExited); !t.must("gatekeeper death", err) {
			return
		}
		path := dev.sim.SocketPath(tee.RoleGatekeeper)
		if !t.must("remove the dead socket", os.Remove(path)) {
			return
		}
		sq, err := squat(path)
		if !t.must("squat the path", err) {
			return
		}
		defer sq.ln.Close()
		if _, err := dev.waitEvent(ctx, tee.RoleGatekeeper, simdev.EventSocketTaken, simdev.EventRestarted); !t.must("launcher sees the path taken", err) {
			return
		}
		c, err := r.dial(ctx, dev.sim.Device, tee.RoleGatekeeper)
		if err == nil {
			c.Close()
		}
		time.Sleep(500 * time.Millisecond) // a few restart retries
		if n := sq.conns.Load(); n > 0 {
			t.breachf("%d connection(s) routed to the squatter on %s", n, path)
		} else if err == nil {
			t.breachf("Dial of the gatekeeper succeeded while a squatter held its path")
		} else {
			t.heldf("while squatted: restart deferred, Dial refused (%v), squatter reached by nobody", err)
		}
		if !t.must("free the path", sq.ln.Close()) {
			return
		}
		if _, err := dev.waitEvent(ctx, tee.RoleGatekeeper, simdev.EventRestarted); !t.must("control: restart once the path is free", err) {
			return
		}
		if _, err := dev.session(ctx, tee.RoleGatekeeper); !t.must("control: gatekeeper session after recovery", err) {
			return
		}
		t.summarize("squatted path: no client routed, restart retried; freed: gatekeeper restarted and serves")
	},
}

var reStreamEnded = regexp.MustCompile(`callback stream ended: client not reading`)

// slowReaderMax bounds the callbacks the slow-reader attack makes while
// waiting for the HAL to end its stream (it does after ~8,000 with the
// HTTP/2 minimum window: transport buffers plus 1024).
const slowReaderMax = 40000

var slowCallbackReader = attack{
	Info: Info{
		ID:      "slow-callback-reader",
		Attack:  "register a HAL callback stream and never read it while the HAL makes thousands of callbacks",
		Defence: "1024 callbacks waiting → the stream ends at once with RESOURCE_EXHAUSTED; none skipped on an open stream (protocol §10.3)",
		Want:    Rejected,
	},
	run: func(ctx context.Context, r *runner, t *tally) {
		dev, err := r.boot(ctx, true, simdev.RestartPolicy{})
		if !t.must("boot the device", err) {
			return
		}
		c, err := halclient.Dial(ctx, hal.SocketPath(r.dir))
		if !t.must("HAL client", err) {
			return
		}
		dev.onStop(func() { c.Close() })
		conn, err := grpc.NewClient("unix://"+hal.SocketPath(r.dir), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		if !t.must("slow client", err) {
			return
		}
		dev.onStop(func() { conn.Close() })
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := halpb.NewBiometricsFingerprintClient(conn).SetNotify(sctx, &halpb.SetNotifyRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if !t.must("slow client: setNotify", err) {
			return
		}
		made := 0
		for findLog(dev.logs, reStreamEnded) == "" && made < slowReaderMax {
			if !t.must("cancel()", cancels(ctx, c, 256)) {
				return
			}
			made += 256
		}
		got, err := 0, error(nil)
		if findLog(dev.logs, reStreamEnded) == "" {
			t.breachf("the HAL still holds the stream of a client that read none of %d callbacks (limit %d)", made, hal.DefaultSinkBuffer)
			return
		}
		for {
			var m *halpb.ClientCallback
			if m, err = stream.Recv(); err != nil {
				break
			}
			if cb, cerr := halpb.ToCallback(m); cerr != nil || cb != (hidl.OnError{DeviceID: m.GetDeviceId(), Error: hidl.ErrorCanceled}) {
				t.breachf("callback %d is not the %d-th onError(CANCELED): %v", got, got, cb)
				return
			}
			got++
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.breachf("after %d of %d callbacks the stream ended with %v, not RESOURCE_EXHAUSTED", got, made, err)
			return
		}
		t.heldf("client read none of %d callbacks → ended with RESOURCE_EXHAUSTED after an unbroken %d", made, got)
		// Control: a client that reads gets every callback.
		cbs, err := c.SetNotify(ctx)
		if !t.must("control: setNotify", err) {
			return
		}
		defer cbs.Close()
		// (Exactly one callback per cancel() is the TA's and HAL's
		// business, not this row's: the control asks that a client that
		// reads is never ended, over more than the limit of callbacks.)
		const n = 2 * hal.DefaultSinkBuffer
		read := make(chan int, 1)
		go func() {
			k := 0
			for {
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := cbs.Next(cctx)
				ccancel()
				if err != nil {
					read <- k
					return
				}
				k++
			}
		}()
		for range n {
			if _, err := c.Cancel(ctx); !t.must("control: cancel()", err) {
				return
			}
		}
		k := <-read
		if k <= hal.DefaultSinkBuffer || cbs.Err() != nil {
			t.brokef("control: a reading client got %d callbacks for %d cancel() calls, stream %v", k, n, cbs.Err())
			return
		}
		t.summarize("non-reading client ended with RESOURCE_EXHAUSTED after %d of %d callbacks, none skipped; a reading client kept its stream over %d callbacks", got, made, k)
	},
}

// cancels calls cancel() n times from 4 goroutines; each makes one
// onError(ERROR_CANCELED).
func cancels(ctx context.Context, c *halclient.Client, n int) error {
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				st, err := c.Cancel(ctx)
				if err == nil && st != hidl.SysOK {
					err = fmt.Errorf("cancel: %v", st)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var all []error
	for range workers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// clearExcept removes everything in dir but keep.
func clearExcept(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); p != keep {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}
