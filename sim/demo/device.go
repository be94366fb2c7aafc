package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// roles are the TAs of a demo device, in boot order (Keymaster first: it
// relays its auth-token key to the others).
var roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment}

// halPIDKey names the HAL in Report.PIDs.
const halPIDKey = "hal"

// bootTAs starts the four TAs as processes (device.Boot: secure boot, then
// Keymaster's auth-token key relayed to Gatekeeper, the fingerprint TA and
// the payment TA) and opens the sessions the framework and the payment app
// hold: Gatekeeper (gatekeeperd), Keymaster (keystore) and the payment TA
// (the payment app's CA).
func bootTAs(r *runner, ctx context.Context, rec *record) error {
	d, err := device.Up(ctx, device.StackConfig{Config: device.Config{
		Dir:          r.dir,
		Roles:        roles,
		Command:      r.cfg.TACommand(r.dir),
		StopGrace:    DefaultStopGrace,
		TrustAnchors: r.srv.anchors,
		Log:          newLogger(r.cfg.Logs, "launcher", r.cfg.LogLevel),
		Stderr:       r.cfg.Logs,
		ProfileDir:   r.cfg.ProfileDir,
	}})
	if err != nil {
		return err
	}
	r.dev = d
	rec.Add("dir", r.dir)
	for _, role := range roles {
		pid, err := d.PID(role)
		if err != nil {
			return err
		}
		r.rep.PIDs[string(role)] = pid
		rec.Add(string(role), pid)
	}
	if id, ok := d.BootID(); ok {
		rec.Add("boot_id", fmt.Sprint(id))
	}
	for _, s := range []struct {
		role tee.Role
		dst  **device.Session
		opts []rpc.SessionOption
	}{{tee.RoleGatekeeper, &r.gk, nil}, {tee.RoleKeymaster, &r.km, nil}, {tee.RolePayment, &r.pay, []rpc.SessionOption{rpc.AsUser()}}} {
		// The payment app logs in as its user: its keys belong to that
		// identity (docs/protocol.md §1.12).
		if *s.dst, err = d.Session(ctx, s.role, s.opts...); err != nil {
			return err
		}
	}
	return nil
}

// startHAL starts the HAL process (it asks Keymaster for the auth-token key
// sealed to the fingerprint TA and relays it), connects to its north API,
// registers the client callback, takes the sensor-control endpoint (sensor
// latency 0: the timings are the emulator's own) and sets the active
// group.
func startHAL(r *runner, ctx context.Context, rec *record) error {
	h, err := r.dev.StartHAL(ctx, r.cfg.HALCommand(r.dir))
	if err != nil {
		return err
	}
	r.rep.PIDs[halPIDKey] = h.PID()
	rec.Add("pid", h.PID())
	rec.Add("socket", h.SocketPath())
	if r.hc, err = halclient.Dial(ctx, h.SocketPath()); err != nil {
		return err
	}
	if r.cbs, err = r.hc.SetNotify(ctx); err != nil {
		return fmt.Errorf("setNotify: %w", err)
	}
	rec.Add("device_id", Hex64(r.cbs.DeviceID))
	r.fp = drive.HAL{Client: r.hc, Callbacks: r.cbs}
	if r.sen, err = r.dev.Sensor(ctx); err != nil {
		return err
	}
	if err := r.sen.Reset(ctx); err != nil {
		return fmt.Errorf("sensor reset: %w", err)
	}
	if err := r.sen.SetLatency(ctx, 0); err != nil {
		return fmt.Errorf("sensor latency: %w", err)
	}
	rec.Add("sensor_latency_ms", 0)
	// The framework's per-user store path (/data/vendor_de/<user>/fpdata).
	path := filepath.Join(r.dir, devdir.DataDirName, "vendor_de", "0", "fpdata")
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	st, err := r.hc.SetActiveGroup(ctx, gid, path)
	if err != nil {
		return err
	}
	if st != hidl.SysOK {
		return fmt.Errorf("setActiveGroup(%d): %v, want SYS_OK", gid, st)
	}
	rec.Add("active_group", gid)
	return nil
}

// stopDevice is the last step: it tears everything down and checks that no
// process and no socket is left.
func stopDevice(r *runner, ctx context.Context, rec *record) error {
	if err := r.teardown(ctx); err != nil {
		return err
	}
	rec.Add("processes_left", 0)
	rec.Add("sockets_left", 0)
	return nil
}

// teardown closes the HAL clients and the server channel, then the stack (the sessions and the
// sensor endpoint, the HAL, then the TAs by pid: SIGTERM, SIGKILL after
// the grace), then the payment server by pid (SIGTERM, SIGKILL after the
// grace), and checks that every process is gone and every socket
// removed. It runs once.
func (r *runner) teardown(ctx context.Context) error {
	if r.done {
		return nil
	}
	r.done = true
	var errs []error
	if r.cbs != nil {
		r.cbs.Close()
	}
	if r.hc != nil {
		_ = r.hc.Close()
	}
	r.closeChannel(ctx)
	if r.dev != nil {
		if err := r.dev.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.closeServer(); err != nil {
		errs = append(errs, err)
	}
	if err := r.leftovers(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leftovers reports processes of the device still alive and sockets still
// in its sock/ directory.
func (r *runner) leftovers() error {
	var left []string
	for role, pid := range r.rep.PIDs {
		if alive(pid) {
			left = append(left, fmt.Sprintf("%s (pid %d) still running", role, pid))
		}
	}
	ents, err := os.ReadDir(filepath.Join(r.dir, devdir.SockDirName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if e.Type()&os.ModeSocket != 0 {
			left = append(left, "socket "+e.Name()+" not removed")
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("%w: %v", ErrLeftover, left)
	}
	return nil
}

// alive reports whether pid names a live (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// Field 3 is the state; Z is a zombie (dead, not yet reaped).
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
