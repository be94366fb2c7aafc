package fpproto_test

import (
	"testing"

	"github.com/fpemu/fpemu/tee/tatest"
)

// TestProtocolPackageLinksNoSecureWorld: the REE imports fpproto, so it
// links no TA implementation, matcher, sensor, TA core or secure-world
// package (tatest.SecureWorld; docs/architecture.md, "Protocol packages").
func TestProtocolPackageLinksNoSecureWorld(t *testing.T) {
	tatest.ProtocolPackage(t)
}
