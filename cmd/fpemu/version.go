package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/internal/buildinfo"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the module version, VCS revision and Go version of this binary",
		Long: `Print what this fpemu binary was built from, as Go records it in the binary
(runtime/debug.ReadBuildInfo; "go version -m fpemu" shows the same):

  module      the main module's path
  version     its version: a tag, a pseudo-version, or "(devel)"
  revision    the Git commit (vcs.revision), "unknown" if not stamped
  time        the commit's time (vcs.time)
  modified    true if the work tree had uncommitted changes (vcs.modified)
  go          the Go toolchain
  platform    GOOS/GOARCH

"go build" stamps the VCS fields when it builds inside a Git work tree;
"go run" and -buildvcs=false do not, and they read "unknown". With --json
it prints one JSON object on one line. conform's JUnit report carries the
same facts as <properties> named fpemu.*.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read()
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(info)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			t := info.Time
			if t == "" {
				t = buildinfo.Unknown
			}
			for _, row := range [][2]string{
				{"module", info.Module}, {"version", info.Version}, {"revision", info.Revision},
				{"time", t}, {"modified", fmt.Sprint(info.Modified)}, {"go", info.GoVersion},
				{"platform", info.Platform},
			} {
				fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return c
}
