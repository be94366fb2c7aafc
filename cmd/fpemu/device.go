package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

func init() { subcommands = append(subcommands, newDeviceCmd) }

func newDeviceCmd() *cobra.Command {
	return newGroup("device", "Run an emulated device",
		"Boot and run an emulated fpemu device: its TA processes and its HAL.",
		newDeviceUpCmd(), newDeviceRootCmd())
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
	// Exec is the vendor binary running the role (`--exec ROLE=PATH`);
	// empty when it is fpemu's own.
	Exec string `json:"exec,omitempty"`
}

// DeviceInfo is the JSON object `device up --json` prints once the device
// is up: what a vendor's test setup reads to find the sockets.
type DeviceInfo struct {
	Dir    string `json:"dir"`
	BootID string `json:"boot_id"`
	// HAL is the HAL process; nil (absent from the JSON) with --no-hal.
	HAL          *DeviceProcess  `json:"hal,omitempty"`
	TAs          []DeviceProcess `json:"tas"`
	SensorSocket string          `json:"sensor_socket"`
	// Server is the payment server the device is wired to (--server);
	// absent without it.
	Server *ServerLink `json:"server,omitempty"`
}

func newDeviceUpCmd() *cobra.Command {
	var pf processFlags
	var asJSON, noHAL bool
	var durability string
	var restarts, clientGroup int
	var anchorsFile, profileDir string
	var srv serverOptions
	var execs []string
	var readyTimeout time.Duration
	c := &cobra.Command{
		Use:   "up --dir DEVICE_DIR [--json] [--no-hal] [--exec ROLE=PATH]... [--client-group GID] [--server ADDR --ca DIR]",
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
credentials. The sensor socket, data/ and rpmb/ stay private.

Bring your own HAL or TA (docs/protocol.md §7.8):

  --no-hal          start the TAs and the sensor only, no HAL: a vendor HAL
                    connects to DEVICE_DIR/sock/<role>.sock and is the only
                    reader of the fingerprint TA's events (fpemu's HAL would
                    pump them away). "hal" is absent from the JSON.
  --exec ROLE=PATH  run the vendor binary PATH (absolute, executable) for
                    ROLE (hal, keymaster, gatekeeper, fingerprint, payment)
                    instead of fpemu, with fpemu's own contract: argv
                    "PATH ta ROLE --dir DIR" (HAL: "PATH hal --dir DIR
                    --ready-fd 4"), the provisioning record on fd 3, READY
                    on fd 4 within --ready-timeout, SIGTERM to stop, the
                    same restart policy. Repeatable, once per role.

A vendor binary that exits or does not become ready fails the start (exit 1,
naming PATH, its exit status and stderr tail); nothing is left running.

Wire the device to a standing payment server (docs/protocol.md §14.8):

  --server ADDR     the channel address of 'fpemu server' (its --listen). Needs
                    --ca: the payment TA is provisioned with trust anchors made
                    of the CA's root and --server-name (unless --trust-anchors
                    gives them), its channel key pairs are made in the TA for
                    the payment app's identity, the CA issues their dual
                    certificates, the TA installs them, and a gm-fs handshake
                    with ADDR checks both sides before the device is reported
                    up (a failure is exit 1, nothing left running). The JSON
                    gains "server":{"addr","name","profile","device_id",
                    "channel_certs"}. A payment app then opens the payment TA
                    socket as its user, dials ADDR and drives the channel
                    (sim/drive: Connect, RegisterWithServer, ServerChallenge,
                    PayOrder). The server accepts the device's registrations
                    only if the device's attestation key is in its
                    --device-roots: 'fpemu device root --dir DEVICE_DIR' prints it.
  --ca DIR          the server's CA directory (fpemu ca init).
  --server-name N   the name in the server's certificate (default
                    pay.fpemu.test, fpemu server's default --name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			if restarts < 0 {
				return usageErrorf("--restarts: must be ≥ 0")
			}
			if readyTimeout <= 0 {
				return usageErrorf("--ready-timeout: must be > 0")
			}
			vendor, err := parseExecs(execs, noHAL)
			if err != nil {
				return err
			}
			var group *int
			if cmd.Flags().Changed("client-group") {
				if clientGroup < 0 {
					return usageErrorf("--client-group: %d is not a group id", clientGroup)
				}
				group = &clientGroup
			}
			var anchors []byte
			if anchorsFile != "" {
				if anchors, err = readTrustAnchors(anchorsFile); err != nil {
					return err
				}
			}
			switch {
			case srv.addr == "" && srv.caDir != "":
				return usageErrorf("--ca goes with --server")
			case srv.addr != "" && srv.caDir == "":
				return usageErrorf("--server needs --ca (the CA that issues the device's channel certificates)")
			case srv.addr != "":
				if _, _, err := net.SplitHostPort(srv.addr); err != nil {
					return usageErrorf("--server: %v", err)
				}
				if anchors == nil {
					if anchors, err = srv.trustAnchors(); err != nil {
						return err
					}
				}
			}
			self, err := newSelfLauncher(lvl)
			if err != nil {
				return err
			}
			if err := checkDurability(durability); err != nil {
				return err
			}
			self.vendor, self.durability = vendor, durability
			return deviceUp(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), deviceUpOptions{
				dir: abs, self: self, json: asJSON, level: lvl, restarts: restarts, clientGroup: group,
				noHAL: noHAL, readyTimeout: readyTimeout, trustAnchors: anchors, server: srv,
				profileDir: profileDir,
			})
		},
	}
	pf.register(c, "device directory (fused key, sockets, TA data)", "log level of the launcher and every process it starts (TAs, HAL, --exec binaries): debug, info, warn, error")
	c.Flags().BoolVar(&asJSON, "json", false, "print the processes as one JSON object")
	c.Flags().IntVar(&restarts, "restarts", 0, "how many times a crashed TA is restarted")
	c.Flags().IntVar(&clientGroup, "client-group", -1, "group id whose members may reach the TA and HAL sockets (not the sensor)")
	c.Flags().StringVar(&durability, "durability", taproc.DurabilityProcess, durabilityUsage)
	c.Flags().StringVar(&profileDir, "profile-dir", "", profileDirUsage)
	c.Flags().BoolVar(&noHAL, "no-hal", false, "start the TAs and the sensor only: bring your own HAL")
	c.Flags().StringArrayVar(&execs, "exec", nil, "run the vendor binary `ROLE=PATH` for ROLE (hal, keymaster, gatekeeper, fingerprint, payment); repeatable")
	c.Flags().StringVar(&anchorsFile, "trust-anchors", "", "hand the payment TA the trusted channel's trust anchors from `FILE` (docs/protocol.md §8.11 wire form)")
	c.Flags().StringVar(&srv.addr, "server", "", "wire the device to the payment server whose channel listens on `ADDR` (needs --ca)")
	c.Flags().StringVar(&srv.caDir, "ca", "", "the server's CA `DIR`: trust anchors and the device's channel certificates")
	c.Flags().StringVar(&srv.name, "server-name", "pay.fpemu.test", "the server `NAME` the trust anchors expect")
	c.Flags().DurationVar(&readyTimeout, "ready-timeout", device.DefaultReadyTimeout, "how long each process has to write READY on fd 4")
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
	// noHAL is --no-hal: the TAs and the sensor only.
	noHAL bool
	// readyTimeout is --ready-timeout (device.Config.ReadyTimeout).
	readyTimeout time.Duration
	// trustAnchors are the bytes of --trust-anchors
	// (device.Config.TrustAnchors).
	trustAnchors []byte
	// server is --server, --ca, --server-name; addr "" without --server.
	server serverOptions
	// profileDir is --profile-dir (device.Config.ProfileDir), or "".
	profileDir string
}

// readTrustAnchors reads and checks --trust-anchors FILE as the payment
// TA will (payment.CheckAnchors): a usage error, exit 2, when it is
// unreadable, not payproto.TrustAnchors, or names a root that is not a CA
// certificate or an RSA key under 2048 bits — rather than a payment TA
// that does not start.
func readTrustAnchors(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--trust-anchors: %v", err)
	}
	if err := payment.CheckAnchors(b); err != nil {
		return nil, usageErrorf("--trust-anchors: %v", err)
	}
	return b, nil
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
	log := tee.NewLoggerTo(errw, "launcher", o.level)
	halCommand := o.self.hal
	if o.noHAL {
		halCommand = nil
	}
	for role, path := range o.self.vendor {
		log.Info("vendor binary", zap.String("role", role), zap.String("exec", path))
	}
	st, err := device.Up(ctx, device.StackConfig{
		Config: device.Config{
			Dir:          o.dir,
			Roles:        deviceRoles(),
			Command:      o.self.ta(o.dir),
			ReadyTimeout: o.readyTimeout,
			Restart:      device.RestartPolicy{MaxRestarts: o.restarts, Backoff: 100 * time.Millisecond},
			Log:          log,
			Stderr:       errw,

			ClientGroup:  o.clientGroup,
			TrustAnchors: o.trustAnchors,
			ProfileDir:   o.profileDir,
		},
		HALCommand: halCommand,
	})
	if err != nil {
		return o.self.vendor.vendorStartError(err)
	}
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return st.Close(sctx)
	}
	h, socks := st.HAL(), st.Sockets()
	info := DeviceInfo{Dir: o.dir, SensorSocket: socks.Sensor}
	var halDone <-chan struct{} // nil without a HAL: never ready
	if h != nil {
		info.HAL = &DeviceProcess{Role: device.HALName, PID: h.PID(), Socket: socks.HAL, Exec: o.self.vendor[device.HALName]}
		halDone = h.Done()
	}
	if id, ok := st.BootID(); ok {
		info.BootID = id.String()
	}
	if o.server.addr != "" {
		link, err := wireServer(ctx, st, o.server)
		if err != nil {
			return errors.Join(err, shutdown())
		}
		info.Server = link
		log.Info("wired to the payment server", zap.String("server", link.Addr), zap.String("device_id", link.DeviceID))
	}
	for _, r := range st.Roles() {
		pid, err := st.PID(r)
		if err != nil {
			return errors.Join(err, shutdown())
		}
		u, _ := tee.UUIDOf(r)
		info.TAs = append(info.TAs, DeviceProcess{Role: string(r), UUID: u.String(), PID: pid, Socket: socks.TAs[r], Exec: o.self.vendor[string(r)]})
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
		case <-halDone:
			runErr = fmt.Errorf("the HAL process (pid %d, %s) died: %s", h.PID(), o.self.vendor.exe(device.HALName, "fpemu"), h.Status())
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
	fmt.Fprintln(tw, "ROLE\tPID\tSOCKET\tEXEC")
	row := func(p DeviceProcess) {
		exe := "fpemu"
		if p.Exec != "" {
			exe = p.Exec
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Role, p.PID, p.Socket, exe)
	}
	for _, p := range info.TAs {
		row(p)
	}
	if info.HAL != nil {
		row(*info.HAL)
	} else {
		fmt.Fprintf(tw, "%s\t-\t(none: --no-hal; bring your own)\t-\n", device.HALName)
	}
	fmt.Fprintf(tw, "sensor\t-\t%s\t-\n", info.SensorSocket)
	if info.Server != nil {
		fmt.Fprintf(tw, "server\t-\t%s (%s, %s; device %s)\t-\n", info.Server.Addr, info.Server.Name, info.Server.Profile, info.Server.DeviceID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "running; SIGINT or SIGTERM stops the device")
	return err
}
