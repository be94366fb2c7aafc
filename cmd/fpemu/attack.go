package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/sim/attack"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

func init() { subcommands = append(subcommands, newAttackCmd) }

// attackInterpose is a test hook (attack.Config.Interpose): this package's
// tests set it to put a deliberately weakened TA under an attack and check
// the exit status. Always nil in the binary.
var attackInterpose func(tee.Role, rpc.Invoker) rpc.Invoker

func attackList() string {
	var b strings.Builder
	for _, a := range attack.Attacks() {
		fmt.Fprintf(&b, "  %-24s %s\n", a.ID, a.Attack)
	}
	return b.String()
}

func newAttackCmd() *cobra.Command {
	var dir, run, level string
	var asJSON, logs bool
	c := &cobra.Command{
		Use:   "attack [--dir DIR] [--json] [--run REGEX]",
		Short: "Play a compromised REE against an emulated device; every defence must hold",
		Long: `Play a compromised REE — a malicious HAL, Keystore or payment app with root in
the normal world — against emulated devices, and print one row per attack:
the attack, the defence that must stop it, what the device did, and the
result. Each attack boots its own device (Keymaster, Gatekeeper, fingerprint
and payment TAs and the HAL, one process each), plays the honest steps it
needs (a PIN, enrolled fingers, payment keys) and a control showing the
genuine input works, then attacks.

Attacks (--run selects by ID, a Go regular expression):
` + attackList() + `
Every row must end "rejected" or "survived". The exit status is 0 when every
defence held, 1 when any did not (the row says NOT REJECTED, NOT SURVIVED or
ERROR, and the findings name the input that got through), 2 on a usage error.
--json prints one JSON object per row instead of the table. Progress (rows
done of total, the attack running) goes to stderr: a bar on a terminal,
else a line a second; off with --progress=false, and by default with --json.
--logs also writes the harness's own JSON log lines to stderr, from
--log-level on: the harness's (component "attack"), each device's launcher's
("launcher") and the in-process payment servers' ("payserver"), each with
the attack's ID. The launchers report the TAs the attacks kill as errors.
The TAs and the HAL log at info into buffers the attacks read, whatever
--log-level says.

Devices boot under --dir DIR (in a fresh DIR/run-* subdirectory, kept for
inspection), or in a temporary directory that is removed. Every process is
ended and every socket removed before the command returns, also on SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var match *regexp.Regexp
			if run != "" {
				var err error
				if match, err = regexp.Compile(run); err != nil {
					return usageErrorf("--run: %v", err)
				}
			}
			lvl, err := parseLogLevel(level)
			if err != nil {
				return err
			}
			// The children log at info whatever --log-level: some attacks
			// look for their lines (attack.Config.Stderr is unset, so they
			// never reach stderr).
			self, err := newSelfLauncher(zapcore.InfoLevel)
			if err != nil {
				return err
			}
			root, cleanup, err := attackDir(dir)
			if err != nil {
				return err
			}
			defer cleanup()

			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			prog := newProgress(cmd.ErrOrStderr(), progressEnabled(cmd, asJSON), "fpemu attack")
			defer prog.Finish()
			errOut := &aboveWriter{p: prog, w: cmd.ErrOrStderr()}
			cfg := attack.Config{
				Dir:           root,
				TACommand:     self.ta,
				HALCommand:    self.hal,
				ServerCommand: func(args ...string) *exec.Cmd { return exec.Command(self.exe, append([]string{"server"}, args...)...) },
				SECommand: func(dir, sock string) *exec.Cmd {
					return exec.Command(self.exe, "se", "--dir", dir, "--socket", sock, "--log-level", "warn")
				},
				Match:      match,
				Interpose:  attackInterpose,
				OnProgress: attackProgress(prog),
			}
			if logs {
				// a root logger: the harness, launchers and payment
				// servers add their own component (attack.Config.Log)
				cfg.Log = tee.NewRootLoggerTo(errOut, lvl)
			}
			if asJSON {
				cfg.OnResult = func(r attack.Result) { prog.Above(func() { _ = attack.WriteJSON(out, r) }) }
			} else {
				cfg.OnResult = func(r attack.Result) {
					fmt.Fprintf(errOut, "%-24s %s (%.1f s)\n", r.ID, r.Verdict, r.Duration.Seconds())
				}
			}
			rep, err := attack.Run(ctx, cfg)
			prog.Finish()
			if errors.Is(err, attack.ErrNoAttack) || errors.Is(err, attack.ErrDirTooLong) {
				return usageError(err)
			}
			if rep != nil && !asJSON {
				if werr := attack.WriteTable(out, rep); werr != nil && err == nil {
					err = werr
				}
			}
			if errors.Is(err, context.Canceled) {
				return errors.New("interrupted; every process started was stopped and its sockets removed")
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return errors.New(attack.Summary(rep))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "boot the devices under this directory and keep their data (default: a removed temporary directory)")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per attack instead of the table")
	c.Flags().StringVar(&run, "run", "", "run only the attacks whose ID matches this regular expression")
	c.Flags().BoolVar(&logs, "logs", false, "JSON logs on stderr: the harness's, the launchers' and the payment servers' (not the TAs' or HAL's)")
	c.Flags().StringVar(&level, "log-level", "info", "log level (with --logs) of the harness, launchers and payment servers: debug, info, warn, error")
	addProgressFlag(c)
	return c
}

// aboveWriter is stderr shared by the progress bar or lines, the row
// lines and the harness's log lines, written from several goroutines:
// each Write is whole, one at a time, and above the bar (progress.Above).
type aboveWriter struct {
	mu sync.Mutex
	p  *progress
	w  io.Writer
}

func (a *aboveWriter) Write(b []byte) (n int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.p.Above(func() { n, err = a.w.Write(b) })
	return n, err
}

// attackDir returns the directory to boot devices in — a fresh run-*
// directory under dir, or a temporary directory — and its cleanup.
func attackDir(dir string) (string, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "fpemu-attack-")
		if err != nil {
			return "", nil, err
		}
		return d, func() { _ = os.RemoveAll(d) }, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, usageErrorf("--dir: %v", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", nil, usageErrorf("--dir: %v", err)
	}
	d, err := os.MkdirTemp(abs, "run-")
	if err != nil {
		return "", nil, usageErrorf("--dir: %v", err)
	}
	return d, func() {}, nil
}

// attackProgress reports attack.Run's rows done to p.
func attackProgress(p *progress) func(attack.Progress) {
	if p == nil {
		return nil
	}
	return func(a attack.Progress) {
		if a.Done == 0 && a.Next != "" {
			p.Stage("", a.Total, "attacks")
		}
		p.Set(a.Done)
		if a.Next != "" {
			p.Detail("running " + a.Next)
		} else {
			p.Detail("")
		}
	}
}
