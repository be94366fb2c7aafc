package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnknownCommandIsUsageError: a word that names no command is a usage
// error (exit 2) naming it, with or without --help, at the root, in a
// group and after `help`; real commands' help still exits 0.
func TestUnknownCommandIsUsageError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{[]string{"NOSUCH"}, exitUsage, "", "fpemu: unknown command \"NOSUCH\" for \"fpemu\"\nRun 'fpemu --help' for usage.\n"},
		{[]string{"NOSUCH", "--help"}, exitUsage, "", "unknown command \"NOSUCH\" for \"fpemu\""},
		{[]string{"--help", "NOSUCH"}, exitUsage, "", "unknown command \"NOSUCH\" for \"fpemu\""},
		{[]string{"NOSUCH", "-h"}, exitUsage, "", "unknown command \"NOSUCH\""},
		{[]string{"token", "NOSUCH"}, exitUsage, "", "fpemu token: unknown command \"NOSUCH\" for \"fpemu token\""},
		{[]string{"token", "NOSUCH", "--help"}, exitUsage, "", "unknown command \"NOSUCH\" for \"fpemu token\""},
		{[]string{"help", "NOSUCH"}, exitUsage, "", "unknown command \"NOSUCH\" for \"fpemu\""},
		{[]string{"tokne"}, exitUsage, "", "did you mean token?"},
		{[]string{"gatekeeper", "enrol", "--device", "/tmp/x"}, exitUsage, "", "fpemu gatekeeper: unknown command \"enrol\" for \"fpemu gatekeeper\" (did you mean enroll?)"},
		{[]string{"sensor", "--device", "/tmp/x", "presnt", "--help"}, exitUsage, "", "unknown command \"presnt\""},
		// What names a command is untouched.
		{[]string{"--help"}, exitOK, "Available Commands", ""},
		{[]string{}, exitOK, "Available Commands", ""},
		{[]string{"token", "--help"}, exitOK, "decode", ""},
		{[]string{"help", "token"}, exitOK, "decode", ""},
		{[]string{"token", "decode", "--help"}, exitOK, "Decode a 69-byte", ""},
		{[]string{"version", "--help"}, exitOK, "ReadBuildInfo", ""},
		// A leaf's extra argument stays cobra's usage error.
		{[]string{"version", "extra"}, exitUsage, "", "unknown command \"extra\" for \"fpemu version\""},
		{[]string{"--no-such-flag"}, exitUsage, "", "unknown flag"},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			r := fpemu(t, "", tc.args...)
			require.Equal(t, tc.code, r.code, "stdout %q stderr %q", r.stdout, r.stderr)
			assert.Contains(t, r.stdout, tc.out)
			assert.Contains(t, r.stderr, tc.err)
			if tc.code == exitUsage {
				assert.Empty(t, r.stdout, "a usage error prints no help on stdout")
			}
		})
	}
}
