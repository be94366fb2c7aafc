package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/profile"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

// The plumbing the subcommands that run device processes share: their
// --dir and --log-level flags, the binary the launcher starts, and the
// signals that stop them.

// processFlags are --dir (required) and --log-level.
type processFlags struct{ dir, level string }

// register adds the flags to c, with their usage lines.
func (f *processFlags) register(c *cobra.Command, dirUsage, levelUsage string) {
	c.Flags().StringVar(&f.dir, "dir", "", dirUsage)
	c.Flags().StringVar(&f.level, "log-level", "info", levelUsage)
	_ = c.MarkFlagRequired("dir")
}

// parse returns --dir made absolute and the --log-level; a bad value is a
// usage error.
func (f *processFlags) parse() (string, zapcore.Level, error) {
	lvl, err := parseLogLevel(f.level)
	if err != nil {
		return "", lvl, err
	}
	abs, err := filepath.Abs(f.dir)
	if err != nil {
		return "", lvl, usageErrorf("--dir: %v", err)
	}
	return abs, lvl, nil
}

// logLevelUsage is --log-level's usage line where it also reaches the
// processes a command starts.
const logLevelUsage = "log level (with --logs) of this command and of every process it starts: debug, info, warn, error"

// parseLogLevel parses a --log-level value; a bad one is a usage error.
func parseLogLevel(s string) (zapcore.Level, error) {
	lvl, err := zapcore.ParseLevel(s)
	if err != nil {
		return lvl, usageErrorf("--log-level: %v", err)
	}
	return lvl, nil
}

// durabilityUsage is --durability's usage line (device up, ta).
const durabilityUsage = "what a TA's sealed-store commit survives: process (kill -9 of the TA; no fsync) or power (also power loss: fsync on every commit)"

// profileDirUsage is --profile-dir's usage line (device up, ta, hal).
const profileDirUsage = "write a CPU profile of each device process, DIR/ROLE.cpu.pprof (hal.cpu.pprof for the HAL), when it stops on SIGTERM/SIGINT; default $" + profile.DirEnv + " (see docs/benchmarks.md)"

// checkDurability checks a --durability value; a bad one is a usage error.
func checkDurability(d string) error {
	if d != taproc.DurabilityProcess && d != taproc.DurabilityPower {
		return usageErrorf("--durability %q: want %s or %s", d, taproc.DurabilityProcess, taproc.DurabilityPower)
	}
	return nil
}

// selfLauncher starts a device's processes as this binary's `fpemu ta`
// and `fpemu hal` subcommands, or, for the roles in vendor (`device up
// --exec ROLE=PATH`), as PATH with the very same argv. Every child gets
// `--log-level` with level (the zero value is info): one level for the
// whole stack.
type selfLauncher struct {
	exe    string
	vendor vendorExecs
	level  zapcore.Level
	// durability is every TA's --durability ("" is process).
	durability string
}

// newSelfLauncher locates the running fpemu binary; the processes it
// starts log at level.
func newSelfLauncher(level zapcore.Level) (selfLauncher, error) {
	exe, err := os.Executable()
	if err != nil {
		return selfLauncher{}, fmt.Errorf("locate the fpemu binary: %w", err)
	}
	return selfLauncher{exe: exe, level: level}, nil
}

// ta is the command of each TA of the device in dir.
func (l selfLauncher) ta(dir string) func(tee.Role) *exec.Cmd {
	return func(r tee.Role) *exec.Cmd {
		d := l.durability
		if d == "" {
			d = taproc.DurabilityProcess
		}
		return device.WithLogLevel(device.WithDurability(device.TACommand(l.vendor.exe(string(r), l.exe), dir)(r), d), l.level)
	}
}

// hal is the command of the HAL of the device in dir.
func (l selfLauncher) hal(dir string) *exec.Cmd {
	return device.WithLogLevel(device.HALCommand(l.vendor.exe(device.HALName, l.exe), dir), l.level)
}

// untilSignal is ctx, also cancelled by SIGINT or SIGTERM: how every
// long-running subcommand stops cleanly.
func untilSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
