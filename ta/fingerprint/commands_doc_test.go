package fingerprint

import (
	"testing"

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
