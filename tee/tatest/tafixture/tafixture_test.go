package tafixture

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestConfig: the configuration carries the boot's secrets and clock, the
// TA's own identity and keys, and a database inside the boot's directory.
func TestConfig(t *testing.T) {
	d := tatest.NewDevice(t, 42)
	c := Config(d, tee.UUIDGatekeeper, "gatekeeper.db")
	assert.Equal(t, tee.UUIDGatekeeper, c.Self)
	assert.Equal(t, d.StorageKey, c.StorageKey)
	assert.Equal(t, filepath.Join(d.Dir, "gatekeeper.db"), c.DBPath)
	assert.Equal(t, d.Keys.For(tee.UUIDGatekeeper), c.Keys)
	assert.Equal(t, d.BootID, c.BootID)
	assert.Same(t, d.Clock, c.Clock)
	assert.Nil(t, c.Store)
	assert.Nil(t, c.Opener)
}
