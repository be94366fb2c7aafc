package attack

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
)

// TestResourceCanaries proves the resource rows can fail: each runs
// against a Keymaster TA process started without the bound the row
// checks (tas.RunWeakenedTA) and must report that the defence did not
// hold, with what got through.
func TestResourceCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	tests := []struct {
		name    string
		run     string
		weaken  tas.Weakening
		finding string
	}{
		{"no connection cap: clients beyond it are not refused", "^conn-flood$", tas.NoConnCap,
			"connections beyond the cap were not refused with TEEC_ERROR_BUSY"},
		{"no frame budget: stalled frames take the TA's memory", "^stalled-frames$", tas.NoFrameBudget,
			"the Keymaster TA's RSS grew by"},
		{"no operation pruning: one client holds every slot", "^km-op-exhaust$", tas.NoOpPruning,
			"a second client cannot BEGIN while one holds every slot: KM_ERROR_TOO_MANY_OPERATIONS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, func(cfg *Config) {
				cfg.TACommand = func(dir string) func(tee.Role) *exec.Cmd {
					return func(role tee.Role) *exec.Cmd {
						if role == tee.RoleKeymaster {
							return childCmd("ta-weakened", string(tc.weaken), string(role), "--dir", dir)
						}
						return childCmd("ta", string(role), "--dir", dir)
					}
				}
			}, NotSurvived)
			assert.Contains(t, findings, tc.finding)
		})
	}
}
