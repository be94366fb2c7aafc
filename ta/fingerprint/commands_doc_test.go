package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §9.2,
// row by row. Each of the p0…p3 cells starts with the parameter's type (an empty cell is NONE).
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	tatest.CommandTableMatchesDoc(t, "fingerprint", commands, tatest.DocTable{
		Doc:     "../../docs/protocol.md",
		Section: "### 9.2 Commands",
		Skip:    1,
	})
}

// TestOnlyNextEventBlocks: NEXT_EVENT, the HAL's long poll, is the one
// command the host hands reading on for before running it
// (rpc.BlockingCommands), so the HAL's other sessions on the connection
// are not held up behind it.
func TestOnlyNextEventBlocks(t *testing.T) {
	var _ rpc.BlockingCommands = (*TA)(nil)
	for cmd, r := range commands {
		assert.Equal(t, cmd == fpproto.CmdNextEvent, r.Blocks, "%v", cmd)
	}
}
