package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of the fpemu binary.
const (
	exitOK      = 0 // success
	exitFailure = 1 // input processed and rejected (malformed/invalid token), or a run-time failure
	exitUsage   = 2 // unknown command/flag, missing/bad argument, unusable key
)

// subcommands holds the constructors of the top-level subcommands. Each
// subcommand lives in its own file and registers itself from init:
//
//	func init() { subcommands = append(subcommands, newFooCmd) }
//
// Constructors are called once per run, so commands carry no state between
// runs (tests execute the tree many times in one process). Commands write to
// cmd.OutOrStdout()/cmd.ErrOrStderr() and read cmd.InOrStdin(), never os.*.
// Do the work in RunE. Return usageErrorf/usageError for bad invocations
// (exit 2); any other error returned from RunE exits 1. Every error raised
// before RunE starts (flag parsing, Args validation, required and grouped
// flags, pre-run hooks) is a usage error automatically.
var subcommands []func() *cobra.Command

// exitError carries the exit code for an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a usage error (exit 2).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// usageErrorf formats a usage error (exit 2).
func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

// newGroup returns a command that only groups subcommands: without arguments
// it prints its help (exit 0); an unknown subcommand is a usage error.
func newGroup(use, short, long string, children ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(children...)
	return c
}

// newRootCmd builds the whole command tree. started is set when a command's
// RunE (or Run) begins: cobra has parsed and validated the invocation, so
// errors before that point are usage errors.
func newRootCmd(started *bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "fpemu",
		Short: "Emulate the Android fingerprint-payment trust chain off the phone",
		Long: `fpemu emulates the trust chain behind fingerprint payments on an Android phone:
the REE fingerprint HAL, the TEE fingerprint, Keymaster and Gatekeeper TAs, the
payment hook and the payment server, each as its own process speaking AOSP and
GlobalPlatform wire formats. Every role and tool is a subcommand.

Exit status: 0 success; 1 input rejected (malformed or invalid token) or
run-time failure; 2 usage error (unknown command or flag, bad argument or key).
The device helpers (gatekeeper, sensor) add 3 Gatekeeper throttling, 4 socket
unreachable or not the TA asked for, 5 other device failure.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	markStart(root, started)
	return root
}

// markStart wraps the Run/RunE of c and all its descendants so that started
// becomes true when one of them begins.
func markStart(c *cobra.Command, started *bool) {
	switch {
	case c.RunE != nil:
		runE := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*started = true
			return runE(cmd, args)
		}
	case c.Run != nil:
		run := c.Run
		c.Run = func(cmd *cobra.Command, args []string) {
			*started = true
			run(cmd, args)
		}
	}
	for _, child := range c.Commands() {
		markStart(child, started)
	}
}

// run executes fpemu with args and returns the exit code. It is main without
// the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if cmd, err := unknownCommand(args); err != nil {
		return report(stderr, cmd.CommandPath(), exitUsage, err)
	}
	var started bool
	root := newRootCmd(&started)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case !started:
		code = exitUsage
	}
	path := root.Name()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return report(stderr, path, code, err)
}

// report prints err for the command at path (with a pointer to its help
// for a usage error) and returns code.
func report(stderr io.Writer, path string, code int, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
	}
	return code
}
