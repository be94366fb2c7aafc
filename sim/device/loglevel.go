package device

import (
	"os/exec"

	"go.uber.org/zap/zapcore"
)

// LogLevelFlag is the flag every process of the stack takes for its log
// level: the launcher passes its own level to each child it starts, TA or
// HAL, fpemu's or a vendor's `--exec` binary (docs/protocol.md §7.8), so
// one `fpemu device up --log-level L` governs the whole device.
const LogLevelFlag = "--log-level"

// DurabilityFlag is the flag a TA process takes for its sealed store's
// durability, "process" or "power" (docs/protocol.md §6.1, §7.8): the
// launcher passes `fpemu device up --durability` to every TA it starts,
// fpemu's or a vendor's; the HAL keeps no sealed store and gets none.
const DurabilityFlag = "--durability"

// WithDurability appends `--durability D` to a TA's argv and returns cmd.
func WithDurability(cmd *exec.Cmd, d string) *exec.Cmd {
	cmd.Args = append(cmd.Args, DurabilityFlag, d)
	return cmd
}

// WithLogLevel appends `--log-level LEVEL` to cmd's argv and returns cmd:
// how the launcher hands its level to a child (TACommand, HALCommand).
// LEVEL is zap's name for level: debug, info, warn, error, dpanic, panic
// or fatal.
func WithLogLevel(cmd *exec.Cmd, level zapcore.Level) *exec.Cmd {
	cmd.Args = append(cmd.Args, LogLevelFlag, level.String())
	return cmd
}
