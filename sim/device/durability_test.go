package device

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

// TestWithDurability: the launcher's TA argv carries `--durability D`
// (docs/protocol.md §7.8), composable with WithLogLevel in either order.
func TestWithDurability(t *testing.T) {
	for _, d := range []string{"process", "power"} {
		cmd := WithLogLevel(WithDurability(exec.Command("/bin/fpemu", "ta", "keymaster", "--dir", "/d"), d), zapcore.WarnLevel)
		require.Equal(t, []string{"/bin/fpemu", "ta", "keymaster", "--dir", "/d", DurabilityFlag, d, LogLevelFlag, "warn"}, cmd.Args)
	}
}
