package middleware_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestREELinksNoCard is the import-boundary test of the shield's REE side
// (docs/architecture.md, "What the REE may import"): the security
// middleware, the transports (whose servers take a session opener, not the
// card) and the card's protocol package link neither the card (se/card)
// nor any secure-world package such as its sealed store (tee/store). The
// card runs in its own process (`fpemu se`).
func TestREELinksNoCard(t *testing.T) {
	forbidden := append([]string{"github.com/fpemu/fpemu/se/card"}, tatest.SecureWorld...)
	for _, pkg := range []string{".", "../transport", "../cardproto"} {
		t.Run(pkg, func(t *testing.T) {
			testkit.LinksNone(t, pkg, "github.com/fpemu/fpemu/se/apdu", forbidden)
		})
	}
}
