package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/internal/profile"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/taproc"
)

func init() { subcommands = append(subcommands, newTACmd) }

func newTACmd() *cobra.Command {
	var children []*cobra.Command
	for _, role := range device.RunnableRoles {
		children = append(children, newTARoleCmd(role))
	}
	return newGroup("ta",
		"Run one trusted application process (started by the device launcher)",
		`Run the process of one trusted application (TA) of an emulated device.

These are the entrypoints the launcher (package sim/device) starts, one process per
TA. The launcher hands each its provisioning record — identity, storage key,
pairwise envelope keys, boot clock origin — on an inherited pipe (fd 3) and
waits for a readiness line on another (fd 4); secrets never appear in argv,
the environment or a file. Started by hand, without those descriptors, a TA
refuses to run (exit 2).

The TA listens on DIR/sock/<role>.sock (mode 0600) and speaks the CA→TA
protocol of docs/protocol.md; SIGTERM or SIGINT stops it gracefully (exit 0).
Logs are JSON lines on stderr with component=<role>.`,
		children...)
}

func newTARoleCmd(role tee.Role) *cobra.Command {
	var pf processFlags
	var durability, profileDir string
	c := &cobra.Command{
		Use:   string(role) + " --dir DEVICE_DIR",
		Short: fmt.Sprintf("Run the %s TA process", role),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			if err := checkDurability(durability); err != nil {
				return err
			}
			logBuildTag(string(role), lvl)
			err = profile.Run(profile.Dir(profileDir), string(role), func() error {
				return tas.RunTADurability(cmd.Context(), role, abs, lvl, durability)
			})
			if errors.Is(err, taproc.ErrNotLaunched) {
				return usageError(err)
			}
			return err
		},
	}
	pf.register(c, "device directory (holds sock/, data/, rpmb/)", "log level: debug, info, warn, error")
	c.Flags().StringVar(&durability, "durability", taproc.DurabilityProcess, durabilityUsage)
	c.Flags().StringVar(&profileDir, "profile-dir", "", profileDirUsage)
	return c
}
