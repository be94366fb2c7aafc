package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/sim/demo"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var (
		keep   string
		asJSON bool
		logs   bool
		level  string
	)
	c := &cobra.Command{
		Use:   "demo [--keep DIR] [--json]",
		Short: "Run fingerprint → auth token → signed payment end to end on an emulated device",
		Long: `Boot an emulated device in a temporary directory — Keymaster, Gatekeeper,
fingerprint and payment TAs and the fingerprint HAL, each its own process — and
narrate, with timings, the whole chain a fingerprint payment goes through:

  PIN enroll and verify (Gatekeeper) → preEnroll challenge (HAL) → password
  auth token for it → two synthetic fingers enrolled through the HAL, samples
  presented on the TA's sensor → the payment app registers its app and scene
  keys with the payment TA → the payment server's challenge → authenticate
  with operation_id = that challenge → the auth token checked → the TA's bio
  result relayed to the payment TA → SIGN_PAYMENT → the statement verified
  offline with the certified key; the Android Keystore path (a per-operation
  SM2 key finished with the token of authenticate(op handle)).

Then the same payment through the payment server, 'fpemu server' as its own
process (a CA minted in the demo directory with payserver/ca issues the server's
and the device's channel certificates; the ledger is SQLite in the demo
directory; everything on loopback): a merchant order over HTTP → the gm-fs
channel (terminated in the payment TA) → the scene key registered → the
server's challenge and its signed order summary shown → the fingerprint
through the HAL → the statement sealed in the TA → verified and booked → the
ledger row → the feedback verified by the TA. And the server's refusals: a
tampered amount (payload), a counter rollback (counter), a replayed statement
(challenge-used).

Then the device's failure paths: an impostor rejected, a new finger invalidating the
payment key (the app must re-register) and re-registration working, lockout
after five failures. Finally every process (server, HAL, TAs) is stopped and the command checks
that no process or socket is left.

Exit status 0 only if every step behaved as expected; otherwise 1, with the
failed step and why on stderr (2 for a bad invocation). Ctrl-C stops the
device cleanly. --keep DIR runs the device in DIR (absent or empty) and keeps
it for inspection; --json prints one JSON object per step
({"n","step","ok","ms","details"}) instead of the text trace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := parseLogLevel(level)
			if err != nil {
				return err
			}
			self, err := newSelfLauncher(lvl)
			if err != nil {
				return err
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			cfg := demo.Config{
				Dir:        keep,
				Keep:       keep != "",
				TACommand:  self.ta,
				HALCommand: self.hal,
				ServerCommand: func(args ...string) *exec.Cmd {
					return exec.Command(self.exe, append([]string{"server"}, args...)...)
				},
			}
			if logs {
				cfg.Logs, cfg.LogLevel = errOut, lvl
			}
			write := demo.JSONLines{W: out}.Step
			if !asJSON {
				text := demo.Text{W: out}
				write = func(s demo.Step) error {
					if s.N == 1 {
						fmt.Fprintf(out, "fpemu demo: fingerprint → auth token → signed payment, across real processes\n\n")
					}
					return text.Step(s)
				}
			}
			var writeErr error
			cfg.OnStep = func(s demo.Step) {
				if err := write(s); err != nil && writeErr == nil {
					writeErr = err
				}
			}
			rep, err := demo.Run(ctx, cfg)
			if errors.Is(err, demo.ErrDirNotEmpty) {
				return usageError(fmt.Errorf("--keep: %w", err))
			}
			summary := out
			if asJSON {
				summary = errOut // stdout carries JSON lines only
			}
			printSummary(summary, rep, err, asJSON)
			if err == nil {
				err = writeErr
			}
			return err
		},
	}
	c.Flags().StringVar(&keep, "keep", "", "run the device in `DIR` (absent or empty) and keep it afterwards")
	c.Flags().BoolVar(&asJSON, "json", false, "print the trace as JSON lines, one object per step")
	c.Flags().StringVar(&level, "log-level", "info", logLevelUsage)
	c.Flags().BoolVar(&logs, "logs", false, "also copy every process's JSON log lines to stderr")
	return c
}

// printSummary ends the trace: the verdict in text mode, where a kept
// device is (in both modes).
func printSummary(w io.Writer, rep *demo.Report, err error, quiet bool) {
	if !quiet {
		fmt.Fprintln(w)
		if err == nil {
			fmt.Fprintf(w, "all %d steps ok in %.2f s; no process or socket left behind\n", len(rep.Steps), rep.Elapsed.Seconds())
		} else if s, ok := rep.Failed(); ok {
			fmt.Fprintf(w, "FAILED at step %d (%s) after %.2f s; the device was stopped\n", s.N, s.Name, rep.Elapsed.Seconds())
		}
	}
	if rep.Kept {
		fmt.Fprintf(w, "device directory kept: %s\n", rep.Dir)
	}
}
