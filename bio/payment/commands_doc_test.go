package payment

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §8.4,
// row by row. The parameters column lists one parameter per ";"-separated
// piece, its type first: "`MEMREF_INPUT` KeyRef; `VALUE_INPUT` …".
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	tatest.CommandTableMatchesDoc(t, "payment", commands, tatest.DocTable{
		Doc:     "../../docs/protocol.md",
		Section: "### 8.4 Payment TA",
		Skip:    1,
		Sep:     ";",
	})
}

// TestCommandNames: the host's command log names the payment commands
// (rpc.CommandNamer) and nothing else.
func TestCommandNames(t *testing.T) {
	ta := newDevice(t).open(t)
	tests := []struct {
		cmd  uint32
		name string
		ok   bool
	}{
		{uint32(payproto.CmdDeliver), "DELIVER", true},
		{uint32(payproto.CmdBeginPayment), "BEGIN_PAYMENT", true},
		{uint32(payproto.CmdSetAuthTokenKey), "SET_AUTH_TOKEN_KEY", true},
		{0x77, "", false},
	}
	for _, tt := range tests {
		name, ok := ta.CommandName(tt.cmd)
		assert.Equal(t, tt.ok, ok, "%#x", tt.cmd)
		assert.Equal(t, tt.name, name)
	}
}
