package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/sim/conform"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

func init() { subcommands = append(subcommands, newConformCmd) }

// errConformFailed is the error (exit 1) of a run in which a case failed.
var errConformFailed = errors.New("conformance failures")

func newConformCmd() *cobra.Command {
	var (
		target               conform.Target
		device, store, junit string
		runRe, skipRe        string
		asJSON, list, logs   bool
		logLevel             string
	)
	c := &cobra.Command{
		Use:   "conform [--hal ADDR [--gatekeeper ADDR] [--sensor ADDR] [--keymaster ADDR] | --device DIR] [--junit FILE] [--run REGEX] [--skip REGEX] [--json]",
		Short: "Run the fingerprint HAL conformance suite (VTS 2.1 and fpemu's stricter cases)",
		Long: `Run the conformance suite against a fingerprint HAL serving fpemu's north API
(IBiometricsFingerprint@2.1 over gRPC on a Unix socket; docs/protocol.md).

The suite is every case of VtsHalBiometricsFingerprintV2_1TargetTest, with
VTS's 3 s callback timeouts and group 99, followed by fpemu's stricter cases:
a valid enroll round trip, the authenticate HAT and its fields (challenge =
operation id, FINGERPRINT, user_id = SID, authenticator_id), refusal of
replayed, revoked, mismatched and FINGERPRINT enroll HATs, authenticator_id
rules and lockout timing. "fpemu conform --list" describes every case.

A valid enroll HAT is what the device's Gatekeeper mints for the preEnroll
challenge (gatekeeperd's role): cases that need one use --gatekeeper (the
Gatekeeper TA socket). Cases that need a finger on the sensor use --sensor
(the fingerprint TA's sensor-control socket). With --keymaster (the Keymaster
TA socket) the authenticate HAT is also used as Keystore uses it, which checks
its MAC. Without them those cases are reported as SKIP with the reason, never
as passed. --device DIR takes all four sockets of a device started with
"fpemu device up --dir DIR".

Your own HAL: start the TAs with "fpemu device up --dir DIR --no-hal", point
your HAL at DIR/sock/ (docs/protocol.md §7.8), and run
"fpemu conform --hal YOUR.sock --device DIR": the HAL is yours, Gatekeeper,
the sensor and Keymaster come from DIR, and every case runs. A DIR whose own
fpemu HAL still runs is refused with another --hal: that HAL reads the
fingerprint TA's events before yours could.

Without --hal or --device, conform boots an fpemu device of its own in a
temporary directory (Keymaster, Gatekeeper, fingerprint TA and HAL, each its
own process), tests it, and shuts it down, leaving nothing behind.

The LockoutExpiryTest case waits out the 30 s lockout, showing progress on
stderr (off with --progress=false, and by default with --json); --skip
LockoutExpiry leaves it out. Output: one line per case (PASS/FAIL/SKIP, duration, reason)
and a summary, or with --json one JSON object; --junit FILE also writes JUnit
XML. Exit status 0 only if no case failed; 1 if one did or the device could
not be reached; 2 for a usage error.

--hal must be the HAL's socket (DEVICE_DIR/sock/hal.sock): a directory or a
regular file is a usage error, and a socket that does not answer as the
HAL's gRPC (Keymaster's, say) is named as such within a few seconds; both
suggest --device DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if list {
				return listCases(out)
			}
			cfg := conform.Config{StorePath: store}
			lvl, err := parseLogLevel(logLevel)
			if err != nil {
				return err
			}
			if logs {
				cfg.Log = tee.NewLogger("conform", lvl)
			}
			if cfg.Run, err = compileFlag("--run", runRe); err != nil {
				return err
			}
			if cfg.Skip, err = compileFlag("--skip", skipRe); err != nil {
				return err
			}
			switch {
			case device != "" && (target.Gatekeeper != "" || target.Sensor != "" || target.Keymaster != ""):
				return usageErrorf("--device replaces --gatekeeper, --sensor and --keymaster (only --hal may go with it); give one or the other")
			case target.HAL == "" && (target.Gatekeeper != "" || target.Sensor != "" || target.Keymaster != ""):
				return usageErrorf("--gatekeeper, --sensor and --keymaster need --hal (without --hal, conform boots its own device)")
			case device != "":
				if target, err = deviceTarget(device, target.HAL); err != nil {
					return usageError(err)
				}
			}

			if err := conform.CheckSelection(cfg); err != nil {
				return usageError(err)
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			if progressEnabled(cmd, asJSON) {
				ctx = conform.WithWaitObserver(ctx, conformWaitProgress(cmd.ErrOrStderr()))
			}
			if target.HAL != "" {
				if err := checkHAL(ctx, target.HAL); err != nil {
					if errors.Is(err, errHALNotSocket) {
						return usageError(err)
					}
					return err
				}
			}
			var own *conform.Device
			if target.HAL == "" {
				if own, err = bootOwnDevice(ctx, logs, lvl, cmd.ErrOrStderr()); err != nil {
					return err
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					if err := own.Close(sctx); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "fpemu conform: shutting the device down: %v\n", err)
					}
				}()
				target = own.Target()
			}
			cfg.Target = target
			if !asJSON {
				width := 0
				for _, c := range conform.Cases() {
					width = max(width, len(c.FullName()))
				}
				cfg.OnResult = func(r conform.Result) { fmt.Fprintln(out, conform.FormatLine(r, width)) }
			}
			rep, runErr := conform.Run(ctx, cfg)
			rep.SelfBooted = own != nil
			if errors.Is(runErr, conform.ErrNoCases) {
				return usageError(runErr)
			}
			if len(rep.Results) > 0 || runErr == nil {
				if err := writeReport(out, rep, asJSON, junit); err != nil {
					return errors.Join(runErr, err)
				}
			}
			if runErr != nil {
				return runErr
			}
			if !rep.OK() {
				_, fail, _ := rep.Counts()
				return fmt.Errorf("%w: %d case(s) failed", errConformFailed, fail)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&target.HAL, "hal", "", "HAL north-API socket (default: boot an fpemu device and test its HAL)")
	f.StringVar(&target.Gatekeeper, "gatekeeper", "", "Gatekeeper TA socket, for valid enroll HATs (with --hal)")
	f.StringVar(&target.Sensor, "sensor", "", "fingerprint TA sensor-control socket, for fingers (with --hal)")
	f.StringVar(&target.Keymaster, "keymaster", "", "Keymaster TA socket, to check the authenticate HAT as Keystore does (with --hal)")
	f.StringVar(&device, "device", "", "device directory of 'fpemu device up': its HAL (unless --hal), Gatekeeper, sensor and Keymaster sockets")
	f.StringVar(&store, "store-path", "", "directory for setActiveGroup, writable by the HAL (default: a temporary directory)")
	f.StringVar(&junit, "junit", "", "also write the results as JUnit XML to `FILE`")
	f.StringVar(&runRe, "run", "", "run only the cases whose name or suite/name matches `REGEX`")
	f.StringVar(&skipRe, "skip", "", "leave out the cases whose name or suite/name matches `REGEX`")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object instead of lines")
	f.BoolVar(&list, "list", false, "list the cases with what each asserts, and exit")
	addProgressFlag(c)
	f.StringVar(&logLevel, "log-level", "info", logLevelUsage)
	f.BoolVar(&logs, "logs", false, "JSON logs on stderr: conform's own and, for a self-booted device, the launcher's, TAs' and HAL's")
	return c
}

func compileFlag(name, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, usageErrorf("%s: %v", name, err)
	}
	return re, nil
}

// deviceTarget returns the sockets of a device directory (docs/protocol.md
// §7.1): DIR/sock/gatekeeper.sock, fingerprint-sensor.sock, keymaster.sock,
// and as the HAL halSock (--hal: a vendor HAL beside a `device up
// --no-hal`), or else DIR/sock/hal.sock. It refuses a pairing that cannot
// work: a vendor HAL beside fpemu's own HAL, whose event pump would take
// the fingerprint TA's events first (§9.4: one reader gets each event),
// and a device started with --no-hal without --hal.
func deviceTarget(dir, halSock string) (conform.Target, error) {
	own := hal.SocketPath(dir)
	t := conform.Target{
		HAL:        own,
		Gatekeeper: devdir.SocketPath(dir, tee.RoleGatekeeper),
		Sensor:     device.SensorSocketPath(dir),
		Keymaster:  devdir.SocketPath(dir, tee.RoleKeymaster),
	}
	_, ownErr := os.Lstat(own)
	switch {
	case halSock == "" && errors.Is(ownErr, os.ErrNotExist) && exists(devdir.SocketPath(dir, tee.RoleFingerprint)):
		return t, fmt.Errorf("--device %s runs no HAL (fpemu device up --no-hal): give your HAL's socket with --hal", dir)
	case halSock == "":
	case filepath.Clean(halSock) == own:
	case ownErr == nil:
		return t, fmt.Errorf("--device %s also runs fpemu's HAL (%s), whose event pump takes the fingerprint TA's events before the HAL at %s can: start that device with \"fpemu device up --no-hal\", or drop --hal to test fpemu's HAL", dir, own, halSock)
	default:
		t.HAL = halSock
	}
	return t, nil
}

// exists reports whether something is at path (without following a link).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// bootOwnDevice boots a device whose processes are this binary's TA and
// HAL subcommands.
func bootOwnDevice(ctx context.Context, logs bool, level zapcore.Level, stderr io.Writer) (*conform.Device, error) {
	self, err := newSelfLauncher(level)
	if err != nil {
		return nil, err
	}
	cfg := conform.DeviceConfig{
		TACommand:  self.ta,
		HALCommand: self.hal,
	}
	if logs {
		cfg.Logs = stderr
		cfg.Log = tee.NewLogger("launcher", level)
	}
	return conform.StartDevice(ctx, cfg)
}

func writeReport(out io.Writer, rep *conform.Report, asJSON bool, junit string) error {
	if asJSON {
		if err := rep.WriteJSON(out); err != nil {
			return err
		}
	} else if _, err := fmt.Fprintln(out, rep.Summary()); err != nil {
		return err
	}
	if junit == "" {
		return nil
	}
	f, err := os.Create(junit)
	if err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	if err := rep.WriteJUnit(f); err != nil {
		f.Close()
		return fmt.Errorf("--junit: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	return nil
}

// listCases prints every case: suite/name, what it needs, what it asserts.
func listCases(out io.Writer) error {
	for _, c := range conform.Cases() {
		needs := ""
		if f := c.Needs.Flags(); len(f) > 0 {
			needs = " [needs " + strings.Join(f, " ") + "]"
		}
		if _, err := fmt.Fprintf(out, "%s%s\n    %s\n", c.FullName(), needs, c.Doc); err != nil {
			return err
		}
	}
	return nil
}

// conformWaitProgress shows each deliberate wait of a case (the 30 s
// lockout) as progress on stderr.
func conformWaitProgress(stderr io.Writer) conform.WaitObserver {
	return func(what string, until time.Time) func() {
		p := newProgress(stderr, true, "fpemu conform")
		p.Timed(what, until)
		return p.Finish
	}
}
