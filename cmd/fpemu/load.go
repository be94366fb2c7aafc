package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/sim/load"
)

func init() { subcommands = append(subcommands, newLoadCmd) }

func newLoadCmd() *cobra.Command {
	var (
		dir, servers, httpAddr, cpuProfile string
		devices, payments                  int
		timeout                            time.Duration
		asJSON                             bool
	)
	c := &cobra.Command{
		Use:   "load --dir DIR --devices N --payments M --server ADDR[,ADDR…] --http ADDR",
		Short: "Drive many simulated devices paying through fpemu server; report throughput and p50/p99",
		Long: `fpemu load is a load generator for fpemu server (docs/protocol.md §14).

Each simulated device runs the real payment TA code (bio/payment) in this
process, behind a tee/rpc host on its own Unix socket, with its own sealed
store, attestation key and channel certificates; the fingerprint TA's
match is played through the real bio hook. First provision the devices
once, which writes the device roots the servers must trust:

  fpemu load init --dir DIR --devices N --ca CADIR [--name pay.fpemu.test]
  fpemu server --ca CADIR --device-roots DIR/device-roots.pem --db … &

Then run: the devices boot, M merchant orders are created through --http
(not timed), device i opens the trusted channel to the i-th --server
(round robin) and registers its scene key, and then every device pays
orders from a shared queue until all M are paid — server challenge and
signed summary, BEGIN_PAYMENT, the fingerprint match relayed,
CHANNEL_SEAL_PAYMENT, the server's feedback verified by the TA. Several
servers on one PostgreSQL database behave as one: any --http will do.

The report gives payments booked per second over the timed part (first
payment start to last payment end) and the latency of one payment as the
app sees it (p50, p90, p99, max, mean), booked payments per server, and
refusals by rule; --json prints it as one JSON object (durations in
seconds). Progress goes to stderr, as for fpemu attack.

The load generator shares the machine's CPUs with the servers it measures
when they run on one host: the TA's SM2 signatures and channel records are
on the load side. --cpuprofile writes this process's CPU profile.

Exit status: 0 when every payment was booked; 1 when any was refused or
failed (or the run could not be made); 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || servers == "" || httpAddr == "" {
				return usageErrorf("--dir, --server and --http are required")
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return usageErrorf("--cpuprofile: %v", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			prog := newProgress(cmd.ErrOrStderr(), progressEnabled(cmd, asJSON), "fpemu load")
			defer prog.Finish()
			stage := ""
			rep, err := load.Run(ctx, load.Config{Dir: dir, Devices: devices, Payments: payments,
				Servers: splitList(servers), HTTP: httpAddr, Timeout: timeout,
				OnProgress: func(p load.Progress) {
					if p.Stage != stage {
						stage = p.Stage
						unit := map[string]string{"boot": "devices", "orders": "orders", "connect": "devices", "pay": "payments"}[p.Stage]
						prog.Stage(p.Stage, p.Total, unit)
					}
					prog.Set(p.Done)
				}})
			prog.Finish()
			if errors.Is(err, load.ErrConfig) || errors.Is(err, load.ErrNotProvisioned) {
				return usageError(err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := writeLoadReport(out, rep); err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%d of %d payments not booked (%d refused, %d errors)", rep.Payments-rep.Booked, rep.Payments,
					rep.Payments-rep.Booked-rep.Errors, rep.Errors)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "load directory provisioned by 'fpemu load init'")
	f.IntVar(&devices, "devices", 4, fmt.Sprintf("simulated devices paying concurrently (1..%d)", load.MaxDevices))
	f.IntVar(&payments, "payments", 100, fmt.Sprintf("payments in total (1..%d)", load.MaxPayments))
	f.StringVar(&servers, "server", "", "fpemu server channel addresses, comma-separated (devices round robin)")
	f.StringVar(&httpAddr, "http", "", "a server's merchant API address (orders are created there)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "bound on each request round trip")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write this process's CPU profile to the file")
	addProgressFlag(c)
	c.AddCommand(newLoadInitCmd())
	return c
}

func newLoadInitCmd() *cobra.Command {
	var dir, caDir, name string
	var devices int
	c := &cobra.Command{
		Use:   "init --dir DIR --devices N --ca CADIR [--name NAME]",
		Short: "Provision simulated devices for fpemu load and write their device roots",
		Long: `fpemu load init provisions N simulated devices under DIR (devices already
there are kept): each boots its payment TA with its own sealed store
(DIR/dev-NNNNN, owner-only, the device's storage key beside it), creates
its attestation and scene keys, and gets dual channel certificates from the
CA in --ca; the devices trust that CA's root for a server named --name.
It prints the path of DIR/device-roots.pem, the devices' attestation keys
for 'fpemu server --device-roots'.

Exit status: 0 done; 1 a failure; 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || caDir == "" {
				return usageErrorf("--dir and --ca are required")
			}
			c, err := ca.Open(caDir, ca.Options{})
			if err != nil {
				return usageErrorf("--ca: %v", err)
			}
			defer c.Close()
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			prog := newProgress(cmd.ErrOrStderr(), progressEnabled(cmd, false), "fpemu load init")
			defer prog.Finish()
			prog.Stage("provision", devices, "devices")
			roots, err := load.Init(ctx, load.InitConfig{Dir: dir, Devices: devices, CA: c, ServerName: name,
				OnProgress: func(p load.Progress) { prog.Set(p.Done) }})
			prog.Finish()
			if errors.Is(err, load.ErrConfig) {
				return usageError(err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), roots)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "load directory (created)")
	f.IntVar(&devices, "devices", 4, "devices to provision")
	f.StringVar(&caDir, "ca", "", "CA directory (fpemu ca init) issuing the devices' channel certificates")
	f.StringVar(&name, "name", "pay.fpemu.test", "the server's certificate name the devices expect")
	addProgressFlag(c)
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeLoadReport prints rep as text.
func writeLoadReport(w io.Writer, rep *load.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "devices      %d\nservers      %s\npayments     %d booked of %d in %s\n",
		rep.Devices, strings.Join(rep.Servers, ","), rep.Booked, rep.Payments, rep.Elapsed)
	fmt.Fprintf(&b, "throughput   %.1f payments/s\n", rep.PerSecond)
	fmt.Fprintf(&b, "latency      p50 %s  p90 %s  p99 %s  max %s  mean %s\n", rep.P50, rep.P90, rep.P99, rep.Max, rep.Mean)
	for _, k := range slices.Sorted(maps.Keys(rep.PerServer)) {
		fmt.Fprintf(&b, "  %-22s %d booked\n", k, rep.PerServer[k])
	}
	for _, k := range slices.Sorted(maps.Keys(rep.Refused)) {
		fmt.Fprintf(&b, "refused      %s: %d\n", k, rep.Refused[k])
	}
	if rep.Errors > 0 {
		fmt.Fprintf(&b, "errors       %d (first: %s)\n", rep.Errors, rep.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
