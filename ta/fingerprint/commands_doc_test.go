package fingerprint

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// docParamName is how docs/protocol.md writes a parameter type in command
// tables: TEEC_MEMREF_TEMP_INPUT is MEMREF_INPUT.
func docParamName(t tee.ParamType) string {
	return strings.Replace(strings.TrimPrefix(t.String(), "TEEC_"), "MEMREF_TEMP_", "MEMREF_", 1)
}

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §9.2,
// row by row. Each of the p0…p3 cells starts with the parameter's type
// (an empty cell is NONE).
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	require.NoError(t, err)
	sec := string(doc)
	start := strings.Index(sec, "### 9.2 Commands")
	require.GreaterOrEqual(t, start, 0, "section 9.2")
	sec = sec[start:]
	sec = sec[:strings.Index(sec[1:], "\n### ")+1]

	row := regexp.MustCompile("(?m)^\\| `(0x[0-9a-fA-F]+)` \\| `([A-Z_]+)` \\| [^|]* \\|([^|]*)\\|([^|]*)\\|([^|]*)\\|([^|]*)\\|$")
	kinds := []tee.ParamType{tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout}
	var documented []rpc.CommandSpec
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		code, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err)
		spec := rpc.CommandSpec{Code: uint32(code), Name: m[2]}
		for i, cell := range m[3:7] {
			cell = strings.TrimSpace(cell)
			if cell == "" {
				continue
			}
			name := strings.Trim(strings.Fields(cell)[0], "`")
			var found bool
			for _, pt := range kinds {
				if docParamName(pt) == name {
					spec.Params[i], found = pt, true
				}
			}
			require.True(t, found, "%s: parameter %d type %q", spec.Name, i, name)
		}
		documented = append(documented, spec)
	}
	require.Len(t, documented, len(commands), "one documented row per command")

	mux, err := rpc.NewMux("fingerprint", commands)
	require.NoError(t, err)
	assert.Equal(t, documented, mux.Commands())
}
