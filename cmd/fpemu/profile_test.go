package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/profile"
)

// TestDeviceUpProfileDir: `fpemu device up --profile-dir DIR` makes each
// of fpemu's own processes, the TAs and the HAL, write DIR/ROLE.cpu.pprof
// when SIGINT stops the device, every one a pprof profile, and the
// device still stops cleanly (docs/benchmarks.md, "Profiling the
// device's processes").
func TestDeviceUpProfileDir(t *testing.T) {
	bin := builtFpemu(t)
	dir := shortTempDir(t)
	prof := filepath.Join(t.TempDir(), "prof")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir, "--profile-dir", prof)
	names := []string{"hal"}
	for _, p := range up.info.TAs {
		names = append(names, p.Role)
	}
	up.interrupt(t, ctx)
	for _, n := range names {
		require.NoError(t, profile.Check(profile.CPUPath(prof, n)), n)
	}
	assert.NotContains(t, up.Stderr(), `"level":"error"`)
}
