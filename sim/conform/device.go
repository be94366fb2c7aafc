package conform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// DeviceConfig configures StartDevice.
type DeviceConfig struct {
	// TACommand returns the launcher's Config.Command for device directory
	// dir: normally device.TACommand(fpemu, dir). Required.
	TACommand func(dir string) func(tee.Role) *exec.Cmd
	// HALCommand returns the HAL process's command for dir: normally
	// device.HALCommand(fpemu, dir). Required.
	HALCommand func(dir string) *exec.Cmd
	// Logs, if set, receives every process's JSON log lines (launcher,
	// TAs, HAL). Nil discards them (the launcher keeps each child's stderr
	// tail for its errors).
	Logs io.Writer
	// Log is the launcher's logger. Default: none.
	Log *zap.Logger
}

// DeviceRoles are the TAs of a device conform boots for itself.
var DeviceRoles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}

// Device is an fpemu device conform booted for itself in a temporary
// directory: Keymaster, Gatekeeper and the fingerprint TA as separate
// processes through the sim launcher, and the HAL process beside them.
type Device struct {
	dir string
	dev *device.Device
	hal *device.HAL
}

// StartDevice boots a fresh device in a new temporary directory (short, so
// that its sockets fit sockaddr_un) and starts its HAL. On failure
// everything started is stopped and the directory removed.
func StartDevice(ctx context.Context, cfg DeviceConfig) (*Device, error) {
	if cfg.TACommand == nil || cfg.HALCommand == nil {
		return nil, errors.New("conform: DeviceConfig.TACommand and HALCommand are required")
	}
	dir, err := os.MkdirTemp("", "fpemu-conform-")
	if err != nil {
		return nil, fmt.Errorf("conform: device dir: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	dev, err := device.Boot(ctx, device.Config{
		Dir:       dir,
		Roles:     DeviceRoles,
		Command:   cfg.TACommand(dir),
		StopGrace: 2 * time.Second,
		Log:       log,
		Stderr:    cfg.Logs,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("conform: boot device: %w", err)
	}
	d := &Device{dir: dir, dev: dev}
	if d.hal, err = device.StartHAL(ctx, dev, cfg.HALCommand(dir)); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("conform: start HAL: %w", err), d.Close(cctx))
	}
	return d, nil
}

// Target returns the device's endpoints.
func (d *Device) Target() Target {
	return Target{
		HAL:        d.hal.SocketPath(),
		Gatekeeper: d.dev.SocketPath(tee.RoleGatekeeper),
		Sensor:     d.dev.SensorSocketPath(),
		Keymaster:  d.dev.SocketPath(tee.RoleKeymaster),
	}
}

// Dir is the device directory (removed by Close).
func (d *Device) Dir() string { return d.dir }

// PIDs returns the process ids of the device: its TAs and, under "hal",
// the HAL.
func (d *Device) PIDs() map[string]int {
	out := map[string]int{}
	for _, r := range d.dev.Roles() {
		if pid, err := d.dev.PID(r); err == nil {
			out[string(r)] = pid
		}
	}
	if d.hal != nil {
		out["hal"] = d.hal.PID()
	}
	return out
}

// Close stops the HAL and every TA by pid, waits for them, and removes the
// device directory: nothing is left behind. It reports processes that had
// to be killed or exited uncleanly.
func (d *Device) Close(ctx context.Context) error {
	var errs []error
	if d.hal != nil {
		errs = append(errs, d.hal.Stop(ctx))
	}
	errs = append(errs, d.dev.Shutdown(ctx))
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, fmt.Errorf("conform: remove device dir: %w", err))
	}
	return errors.Join(errs...)
}
