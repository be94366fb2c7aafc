package channel_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestChannelLinksNoTEE: channel sits beside the TA protocol packages
// (docs/architecture.md, dependency direction): it links no TA, no TA
// core and no sealed store, so the payment TA and the payment server can
// both host it. (It links package net through smx509, for IP-address
// names in certificates; channel itself opens no connection.)
func TestChannelLinksNoTEE(t *testing.T) {
	testkit.LinksNone(t, ".", "github.com/fpemu/fpemu/channel/chanwire", []string{
		"github.com/fpemu/fpemu/tee/store", "github.com/fpemu/fpemu/tee/tacore",
		"github.com/fpemu/fpemu/bio/payment", "github.com/fpemu/fpemu/hal", "github.com/fpemu/fpemu/sim/device",
	})
}
