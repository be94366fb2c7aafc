package drive_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestDriveLinksNoSecureWorld: the REE flows import protocol packages
// only, never a TA implementation or the secure world's packages
// (tatest.SecureWorld), nor the launcher (docs/architecture.md, "Protocol
// packages").
func TestDriveLinksNoSecureWorld(t *testing.T) {
	testkit.LinksNone(t, ".", "github.com/fpemu/fpemu/tee/rpc",
		append([]string{"github.com/fpemu/fpemu/sim/device"}, tatest.SecureWorld...))
}
