// Package tafixture builds, for a TA's tests, what the launcher hands the
// TA on an emulated boot (tatest.Device). It stands apart from tatest
// because it imports tee/tacore, whose own tests import tatest. It is
// meant for tests only.
package tafixture

import (
	"path/filepath"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tee/tatest"
)

// Config is the shared part of the configuration TA self gets on boot d:
// its identity, d's storage key, the database file db in d's directory (so
// that it survives TA restarts), self's envelope keys, d's boot ID and d's
// clock. A TA's fixture sets the rest (store options, its own fields).
func Config(d *tatest.Device, self tee.UUID, db string) tacore.Config {
	return tacore.Config{
		Self:       self,
		StorageKey: d.StorageKey,
		DBPath:     filepath.Join(d.Dir, db),
		Keys:       d.Keys.For(self),
		BootID:     d.BootID,
		Clock:      d.Clock,
	}
}
