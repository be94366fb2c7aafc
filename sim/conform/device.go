package conform

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	st *device.Stack
}

// StartDevice boots a fresh device in a new temporary directory (short, so
// that its sockets fit sockaddr_un) and starts its HAL. On failure
// everything started is stopped and the directory removed.
func StartDevice(ctx context.Context, cfg DeviceConfig) (*Device, error) {
	if cfg.TACommand == nil || cfg.HALCommand == nil {
		return nil, errors.New("conform: DeviceConfig.TACommand and HALCommand are required")
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	st, err := device.Up(ctx, device.StackConfig{
		Config: device.Config{
			Roles:     DeviceRoles,
			StopGrace: 2 * time.Second,
			Log:       log,
			Stderr:    cfg.Logs,
		},
		TempDir:    "fpemu-conform-",
		TACommand:  cfg.TACommand,
		HALCommand: cfg.HALCommand,
	})
	if err != nil {
		return nil, fmt.Errorf("conform: boot device: %w", err)
	}
	return &Device{st: st}, nil
}

// Target returns the device's endpoints.
func (d *Device) Target() Target {
	s := d.st.Sockets()
	return Target{
		HAL:        s.HAL,
		Gatekeeper: s.TAs[tee.RoleGatekeeper],
		Sensor:     s.Sensor,
		Keymaster:  s.TAs[tee.RoleKeymaster],
	}
}

// Dir is the device directory (removed by Close).
func (d *Device) Dir() string { return d.st.Dir() }

// PIDs returns the process ids of the device: its TAs and, under "hal",
// the HAL.
func (d *Device) PIDs() map[string]int { return d.st.PIDs() }

// Close stops the HAL and every TA by pid, waits for them, and removes the
// device directory: nothing is left behind. It reports processes that had
// to be killed or exited uncleanly.
func (d *Device) Close(ctx context.Context) error { return d.st.Close(ctx) }
