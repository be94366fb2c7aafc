package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withSubcommand registers an extra top-level command for one test, the way
// other files do from init.
func withSubcommand(t *testing.T, newCmd func() *cobra.Command) {
	t.Helper()
	saved := subcommands
	subcommands = append(append([]func() *cobra.Command(nil), saved...), newCmd)
	t.Cleanup(func() { subcommands = saved })
}

func TestExitCodesOfRegisteredSubcommands(t *testing.T) {
	withSubcommand(t, func() *cobra.Command {
		var mode string
		c := &cobra.Command{
			Use:  "probe",
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, _ []string) error {
				switch mode {
				case "fail":
					return errors.New("run-time failure")
				case "usage":
					return usageErrorf("--mode %s is not allowed here", mode)
				case "wrapped-usage":
					return fmt.Errorf("context: %w", usageErrorf("bad thing"))
				}
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "ran")
				return err
			},
		}
		c.Flags().StringVar(&mode, "mode", "", "behaviour")
		c.Flags().Int("n", 0, "a number")
		return c
	})
	for _, tc := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"probe"}, exitOK, "ran\n", ""},
		{[]string{"probe", "--mode", "fail"}, exitFailure, "", "fpemu probe: run-time failure\n"},
		{[]string{"probe", "--mode", "usage"}, exitUsage, "", "fpemu probe: --mode usage is not allowed here\nRun 'fpemu probe --help' for usage.\n"},
		{[]string{"probe", "--mode", "wrapped-usage"}, exitUsage, "", "fpemu probe: context: bad thing\nRun 'fpemu probe --help' for usage.\n"},
		{[]string{"probe", "--n", "x"}, exitUsage, "", "invalid argument"},
		{[]string{"probe", "a", "b"}, exitUsage, "", "accepts at most 1 arg"},
		{[]string{"probe", "--help"}, exitOK, "Usage:", ""},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			r := fpemu(t, "", tc.args...)
			require.Equal(t, tc.code, r.code, r.stderr)
			assert.Contains(t, r.stdout, tc.out)
			assert.Contains(t, r.stderr, tc.err)
		})
	}
}

// The tree is rebuilt on every run: flag values do not leak between runs.
func TestRunsAreIndependent(t *testing.T) {
	args := []string{"token", "verify", "--key", testKeyHex, "--challenge", "1", handmadeHex}
	require.Equal(t, exitFailure, fpemu(t, "", args...).code)
	r := fpemu(t, "", "token", "verify", "--key", testKeyHex, handmadeHex)
	assert.Equal(t, exitOK, r.code, r.stderr)
}
