package attack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Careless launchers and a careless HAL: the launcher rows must report
// that the defence did not hold when the launcher or HAL is weakened.

// takeOverDir is a launcher that "fixes" whatever directory it is given
// (chown, chmod 700) and boots in it.
func takeOverDir(ctx context.Context, cfg simdev.Config) (*simdev.Device, error) {
	_ = os.Chown(cfg.Dir, os.Geteuid(), os.Getegid())
	_ = os.Chmod(cfg.Dir, 0o700)
	return simdev.Boot(ctx, cfg)
}

// followLinks is a launcher that writes its pid to DIR/lock with a plain
// open (following a link) before booting.
func followLinks(ctx context.Context, cfg simdev.Config) (*simdev.Device, error) {
	_ = os.WriteFile(filepath.Join(cfg.Dir, simdev.LockFileName), []byte(fmt.Sprintln(os.Getpid())), 0o600)
	return simdev.Boot(ctx, cfg)
}

// clearStaleLock is a launcher that removes a "stale" lock file first.
func clearStaleLock(ctx context.Context, cfg simdev.Config) (*simdev.Device, error) {
	_ = os.Remove(filepath.Join(cfg.Dir, simdev.LockFileName))
	return simdev.Boot(ctx, cfg)
}

// naiveDial connects to whatever answers on the role's socket path.
func naiveDial(ctx context.Context, d *simdev.Device, role tee.Role) (*rpc.Client, error) {
	return rpc.Dial(ctx, d.SocketPath(role))
}

func TestLaunchCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	tests := []struct {
		name    string
		run     string
		mut     func(*Config)
		finding string
	}{
		{"a launcher that takes over a loose directory", "^dir-hijack$", func(c *Config) { c.Boot = takeOverDir }, "the device booted"},
		{"a launcher that follows a planted link", "^symlink-plant$", func(c *Config) { c.Boot = followLinks }, "wrote through it"},
		{"a launcher that clears a 'stale' lock", "^second-launcher$", func(c *Config) { c.Boot = clearStaleLock }, "changed the live device's directory"},
		{"a client that dials the path without checking the peer", "^socket-squat$", func(c *Config) { c.Dial = naiveDial }, "routed to the squatter"},
		{"a HAL that buffers callbacks without bound", "^slow-callback-reader$", func(c *Config) {
			c.HALCommand = func(dir string) *exec.Cmd {
				return childCmd("hal", "--dir", dir, "--ready-fd", fmt.Sprint(simdev.HALReadyFD), "--unbounded-callbacks")
			}
		}, "still holds the stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, tc.mut, NotRejected)
			assert.Contains(t, findings, tc.finding)
		})
	}
}
