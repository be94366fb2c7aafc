package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/taproc"
)

// childEnv switches the test binary into a device process: the value is
// "ta", "hal", or a broken variant ("hal-norelay", "hal-noauth", "crash");
// never a secret (a TA's record still arrives on fd 3).
const childEnv = "FPEMU_DEMO_TEST_CHILD"

func TestMain(m *testing.M) {
	testkit.Main(m, childEnv, func(mode string) int {
		return runChild(mode, tee.Role(os.Getenv(childEnv+"_ROLE")), os.Getenv(childEnv+"_DIR"))
	})
}

// runChild is what `fpemu ta <role> --dir dir` or `fpemu hal --dir dir
// --ready-fd 4` runs.
func runChild(mode string, role tee.Role, dir string) int {
	var err error
	switch mode {
	case "ta":
		err = tas.RunTA(context.Background(), role, dir, zapcore.InfoLevel)
	case "hal", "hal-norelay", "hal-noauth":
		cfg := hal.DeviceConfig(dir)
		switch mode {
		case "hal-norelay":
			cfg.Payment = nil // a HAL that never relays the bio reports
		case "hal-noauth":
			open := cfg.Payment // a HAL that relays finger lists but loses auth results
			cfg.Payment = func(ctx context.Context) (hal.BioRelay, error) {
				rel, err := open(ctx)
				if err != nil {
					return nil, err
				}
				return dropAuthResults{rel}, nil
			}
		}
		err = hal.Run(context.Background(), hal.Options{Dir: dir, LogLevel: zapcore.InfoLevel, Ready: os.NewFile(device.HALReadyFD, "ready"), Config: &cfg})
	case "crash":
		fmt.Fprintln(os.Stderr, "boom: cannot open store")
		return 3
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, taproc.ErrNotLaunched) {
			return 2
		}
		return 1
	}
	return 0
}

// dropAuthResults passes every bio envelope to the payment TA but the auth
// results, which it claims to have delivered.
type dropAuthResults struct{ hal.BioRelay }

func (d dropAuthResults) Deliver(ctx context.Context, env []byte) error {
	if h, err := envelope.Parse(env); err == nil && h.Type == envelope.MsgBioAuthResult {
		return nil
	}
	return d.BioRelay.Deliver(ctx, env)
}

func childCmd(mode string, role tee.Role, dir string) *exec.Cmd {
	return testkit.ChildCommand(childEnv+"="+mode, childEnv+"_ROLE="+string(role), childEnv+"_DIR="+dir)
}

// testConfig runs the device's processes as children of the test binary.
func testConfig() Config {
	return Config{
		TACommand: func(dir string) func(tee.Role) *exec.Cmd {
			return func(role tee.Role) *exec.Cmd { return childCmd("ta", role, dir) }
		},
		HALCommand: func(dir string) *exec.Cmd { return childCmd("hal", "", dir) },
	}
}
