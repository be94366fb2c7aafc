package gatekeeper

import (
	"testing"

	"github.com/fpemu/fpemu/tee/tatest"
)

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §3.2,
// row by row. The parameters column lists the types, comma-separated.
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	tatest.CommandTableMatchesDoc(t, "gatekeeper", commands, tatest.DocTable{
		Doc:     "../../docs/protocol.md",
		Section: "### 3.2 Commands",
		Skip:    1,
		Sep:     ",",
	})
}
