package keymaster

import (
	"testing"

	"github.com/fpemu/fpemu/tee/tatest"
)

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §2.1,
// row by row. Each parameter cell starts with its type (`NONE` for an unused one), followed by what the parameter carries.
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	tatest.CommandTableMatchesDoc(t, "keymaster", commands, tatest.DocTable{
		Doc:     "../docs/protocol.md",
		Section: "### 2.1 Commands",
	})
}
