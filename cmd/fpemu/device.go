package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

func init() { subcommands = append(subcommands, newDeviceCmd) }

func newDeviceCmd() *cobra.Command {
	return newGroup("device", "Run an emulated device",
		"Boot and run an emulated fpemu device: its TA processes and its HAL.",
		newDeviceUpCmd())
}

// deviceRoles are the TAs `device up` boots: Keymaster, Gatekeeper, the
// fingerprint TA and, once fpemu can run it, the payment TA.
func deviceRoles() []tee.Role {
	roles := []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint}
	if slices.Contains(device.RunnableRoles, tee.RolePayment) {
		roles = append(roles, tee.RolePayment)
	}
	return roles
}

// DeviceProcess is one process of a running device, as `device up`
// reports it.
type DeviceProcess struct {
	Role   string `json:"role"`
	UUID   string `json:"uuid,omitempty"`
	PID    int    `json:"pid"`
	Socket string `json:"socket"`
}

// DeviceInfo is the JSON object `device up --json` prints once the device
// is up: what a vendor's test setup reads to find the sockets.
type DeviceInfo struct {
	Dir          string          `json:"dir"`
	BootID       string          `json:"boot_id"`
	HAL          DeviceProcess   `json:"hal"`
	TAs          []DeviceProcess `json:"tas"`
	SensorSocket string          `json:"sensor_socket"`
}

func newDeviceUpCmd() *cobra.Command {
	var pf processFlags
	var asJSON bool
	var restarts, clientGroup int
	c := &cobra.Command{
		Use:   "up --dir DEVICE_DIR [--json] [--client-group GID]",
		Short: "Boot keymaster, gatekeeper, fingerprint TA and HAL; run until interrupted",
		Long: `Boot an emulated device in DEVICE_DIR (created 0700 if missing) and run it until
SIGINT or SIGTERM: Keymaster, Gatekeeper and the fingerprint TA (and the payment
TA when fpemu can run it) each as its own process started by the launcher, then
the REE fingerprint HAL process, which relays Keymaster's auth-token key to the
fingerprint TA and serves the IBiometricsFingerprint@2.1 north API.

Once everything is up it prints the processes and their sockets — a table, or
with --json one JSON object on one line:

  {"dir":…,"boot_id":…,"hal":{"role":"hal","pid":…,"socket":…/sock/hal.sock},
   "tas":[{"role":"keymaster","uuid":…,"pid":…,"socket":…},…],
   "sensor_socket":…/sock/fingerprint-sensor.sock}

This is what a vendor's test setup starts: point a HAL client (fpemu conform,
hal/halclient) at the hal socket and drive the virtual sensor through the
sensor socket. On SIGINT or SIGTERM the HAL and then every TA are stopped by
pid and their sockets removed; exit 0 when all stopped cleanly. If the HAL dies
the device is shut down and the exit status is 1. Logs (JSON lines, one
component per process) go to stderr.

The device is its user's alone: DEVICE_DIR 0700, every socket 0600, and the
sensor socket refuses any other uid (whoever can write to it places fingers on
the sensor). --client-group GID lets members of group GID — payment apps running
as their own uids — reach the TA and HAL sockets (DEVICE_DIR and sock/ 0710,
those sockets 0660, group GID); each TA tells them apart by the kernel's socket
credentials. The sensor socket, data/ and rpmb/ stay private.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			if restarts < 0 {
				return usageErrorf("--restarts: must be ≥ 0")
			}
			var group *int
			if cmd.Flags().Changed("client-group") {
				if clientGroup < 0 {
					return usageErrorf("--client-group: %d is not a group id", clientGroup)
				}
				group = &clientGroup
			}
			self, err := newSelfLauncher()
			if err != nil {
				return err
			}
			return deviceUp(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), deviceUpOptions{
				dir: abs, self: self, json: asJSON, level: lvl, restarts: restarts, clientGroup: group,
			})
		},
	}
	pf.register(c, "device directory (fused key, sockets, TA data)", "launcher log level: debug, info, warn, error")
	c.Flags().BoolVar(&asJSON, "json", false, "print the processes as one JSON object")
	c.Flags().IntVar(&restarts, "restarts", 0, "how many times a crashed TA is restarted")
	c.Flags().IntVar(&clientGroup, "client-group", -1, "group id whose members may reach the TA and HAL sockets (not the sensor)")
	return c
}

type deviceUpOptions struct {
	dir      string
	self     selfLauncher
	json     bool
	level    zapcore.Level
	restarts int
	// clientGroup is --client-group (device.Config.ClientGroup), or nil.
	clientGroup *int
}

// syncWriter serializes the children's stderr copies and the launcher log.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func deviceUp(ctx context.Context, stdout, stderr io.Writer, o deviceUpOptions) error {
	ctx, stop := untilSignal(ctx)
	defer stop()
	errw := &syncWriter{w: stderr}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(errw), o.level)).
		With(zap.String("component", "launcher"))
	st, err := device.Up(ctx, device.StackConfig{
		Config: device.Config{
			Dir:     o.dir,
			Roles:   deviceRoles(),
			Command: o.self.ta(o.dir),
			Restart: device.RestartPolicy{MaxRestarts: o.restarts, Backoff: 100 * time.Millisecond},
			Log:     log,
			Stderr:  errw,

			ClientGroup: o.clientGroup,
		},
		HALCommand: o.self.hal,
	})
	if err != nil {
		return err
	}
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return st.Close(sctx)
	}
	h, socks := st.HAL(), st.Sockets()
	info := DeviceInfo{
		Dir:          o.dir,
		HAL:          DeviceProcess{Role: device.HALName, PID: h.PID(), Socket: socks.HAL},
		SensorSocket: socks.Sensor,
	}
	if id, ok := st.BootID(); ok {
		info.BootID = id.String()
	}
	for _, r := range st.Roles() {
		pid, err := st.PID(r)
		if err != nil {
			return errors.Join(err, shutdown())
		}
		u, _ := tee.UUIDOf(r)
		info.TAs = append(info.TAs, DeviceProcess{Role: string(r), UUID: u.String(), PID: pid, Socket: socks.TAs[r]})
	}
	if err := printDevice(stdout, info, o.json); err != nil {
		return errors.Join(err, shutdown())
	}

	var runErr error
	events := st.Events()
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping the device", zap.String("reason", "signal"))
			break wait
		case <-h.Done():
			runErr = fmt.Errorf("the HAL process (pid %d) died: %s", h.PID(), h.Status())
			log.Error("HAL died; stopping the device", zap.String("status", h.Status()))
			break wait
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			log.Info("TA event", zap.Stringer("event", ev))
		}
	}
	if err := shutdown(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// printDevice prints the device's processes: one JSON line, or a table.
func printDevice(w io.Writer, info DeviceInfo, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(info)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s\tboot %s\n", info.Dir, info.BootID)
	fmt.Fprintln(tw, "ROLE\tPID\tSOCKET")
	for _, p := range info.TAs {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Role, p.PID, p.Socket)
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\n", info.HAL.Role, info.HAL.PID, info.HAL.Socket)
	fmt.Fprintf(tw, "sensor\t-\t%s\n", info.SensorSocket)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "running; SIGINT or SIGTERM stops the device")
	return err
}
