package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/profile"
)

func init() { subcommands = append(subcommands, newHALCmd) }

func newHALCmd() *cobra.Command {
	var pf processFlags
	var (
		readyFD    int
		socket     string
		profileDir string
	)
	c := &cobra.Command{
		Use:   "hal --dir DEVICE_DIR [--socket PATH]",
		Short: "Run the REE fingerprint HAL process (IBiometricsFingerprint@2.1 over gRPC)",
		Long: `Run the REE fingerprint HAL of an emulated device: the process that is
android.hardware.biometrics.fingerprint@2.1-service on a phone.

The HAL is an REE process: it gets no provisioning record and holds no secret.
On start it dials the device's TAs (DEVICE_DIR/sock/<role>.sock), asks Keymaster
for its auth-token key sealed to the fingerprint TA and relays the envelope,
unopened, to the fingerprint TA. It then serves the IBiometricsFingerprint@2.1
north API as gRPC on DEVICE_DIR/sock/hal.sock, or --socket PATH (mode 0600, in a
directory only its owner may write; see docs/protocol.md, "HAL north API
(gRPC)"), pumps the TA's events into client callbacks with AOSP's
codes, and relays the TA's sealed bio reports to the payment TA when one runs.

SIGTERM or SIGINT stops it gracefully (exit 0). Logs are JSON lines on stderr
with component=hal. The launcher (fpemu device up) passes --ready-fd 4 and waits
for a READY line there; started by hand, the HAL needs the TAs already running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			logBuildTag("hal", lvl)
			opt := hal.Options{Dir: abs, LogLevel: lvl}
			if socket != "" {
				if opt.Socket, err = filepath.Abs(socket); err != nil {
					return usageErrorf("--socket: %v", err)
				}
			}
			if readyFD > 0 {
				f, err := readyFile(readyFD)
				if err != nil {
					return usageError(err)
				}
				opt.Ready = f
			}
			return profile.Run(profile.Dir(profileDir), "hal", func() error {
				return hal.Run(cmd.Context(), opt)
			})
		},
	}
	pf.register(c, "device directory (holds sock/)", "log level: debug, info, warn, error")
	c.Flags().StringVar(&socket, "socket", "", "north-API socket path (default DEVICE_DIR/sock/hal.sock), e.g. a vendor HAL's stand-in beside a device up --no-hal")
	c.Flags().IntVar(&readyFD, "ready-fd", 0, "inherited pipe to write READY on once serving (set by the launcher)")
	c.Flags().StringVar(&profileDir, "profile-dir", "", profileDirUsage)
	return c
}

// readyFile returns fd as a writable pipe, or an error if it is not one.
func readyFile(fd int) (*os.File, error) {
	if fd <= 2 {
		return nil, errors.New("--ready-fd: must be an inherited descriptor above 2")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("--ready-fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("--ready-fd %d: not a pipe", fd)
	}
	return os.NewFile(uintptr(fd), "ready"), nil
}
