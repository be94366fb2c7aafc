package demo

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// childEnv switches the test binary into a device process: the value is
// "ta", "hal", or a broken variant ("hal-norelay", "hal-noauth", "crash");
// never a secret (a TA's record still arrives on fd 3).
const child devchild.Switch = "FPEMU_DEMO_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(string(child)); mode != "" {
		os.Exit(runChild(mode, child.Role(), child.Dir()))
	}
	code := m.Run()
	if err := fpemuBin.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// fpemuBin is the fpemu binary the demo's `fpemu server` runs from, built
// once per test process and removed by TestMain.
var fpemuBin = &testkit.Shared{Pkg: testkit.FpemuPackage}

// runChild is what `fpemu ta <role> --dir dir` or `fpemu hal --dir dir
// --ready-fd 4` runs.
func runChild(mode string, role tee.Role, dir string) int {
	switch mode {
	case devchild.ModeTA:
		return devchild.RunTA(role, dir, zapcore.InfoLevel)
	case devchild.ModeHAL, "hal-norelay", "hal-noauth":
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
		return devchild.RunHAL(hal.Options{Dir: dir, LogLevel: zapcore.InfoLevel, Ready: os.NewFile(device.HALReadyFD, "ready"), Config: &cfg})
	case "crash":
		fmt.Fprintln(os.Stderr, "boom: cannot open store")
		return 3
	}
	return devchild.Exit(fmt.Errorf("unknown child mode %q", mode))
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

// profileChildren is the test binary's -fpemu.profile-dir: the device's
// TAs and HAL write ROLE.cpu.pprof there when the device stops
// (docs/benchmarks.md, "Profiling the device's processes").
var profileChildren = flag.String("fpemu.profile-dir", "", "write the device processes' CPU profiles (`DIR`/ROLE.cpu.pprof) when they stop")

// testConfig runs the device's processes as children of the test binary
// and the payment server from a built fpemu binary.
func testConfig(tb testing.TB) Config {
	exe := fpemuBin.Path(tb)
	return Config{TACommand: child.TACommand, HALCommand: child.HALCommand, ProfileDir: *profileChildren,
		ServerCommand: func(args ...string) *exec.Cmd { return exec.Command(exe, append([]string{"server"}, args...)...) }}
}
