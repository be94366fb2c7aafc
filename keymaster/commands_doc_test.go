package keymaster

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
// tables: TEEC_MEMREF_TEMP_INPUT is MEMREF_INPUT, TEEC_NONE is NONE.
func docParamName(t tee.ParamType) string {
	return strings.Replace(strings.TrimPrefix(t.String(), "TEEC_"), "MEMREF_TEMP_", "MEMREF_", 1)
}

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §2.1,
// row by row. Each parameter cell starts with its type (`NONE` for an
// unused one), followed by what the parameter carries.
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	require.NoError(t, err)
	sec := string(doc)
	start := strings.Index(sec, "### 2.1 Commands")
	require.GreaterOrEqual(t, start, 0, "section 2.1")
	sec = sec[start:]
	sec = sec[:strings.Index(sec[1:], "\n### ")+1]

	row := regexp.MustCompile("(?m)^\\| `(0x[0-9a-fA-F]+)` \\| `([A-Z_]+)` \\|(( [^|]+ \\|){4})$")
	cell := regexp.MustCompile("^`([A-Z_]+)`")
	types := []tee.ParamType{tee.ParamNone, tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout}
	var documented []rpc.CommandSpec
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		code, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err)
		spec := rpc.CommandSpec{Code: uint32(code), Name: m[2]}
		cells := strings.Split(strings.Trim(m[3], " |"), "|")
		require.Len(t, cells, 4, spec.Name)
		for i, c := range cells {
			tm := cell.FindStringSubmatch(strings.TrimSpace(c))
			require.NotNil(t, tm, "%s: parameter %d %q names no type", spec.Name, i, c)
			var found bool
			for _, pt := range types {
				if docParamName(pt) == tm[1] {
					spec.Params[i], found = pt, true
				}
			}
			require.True(t, found, "%s: parameter type %q", spec.Name, tm[1])
		}
		documented = append(documented, spec)
	}
	require.Len(t, documented, len(commands), "one documented row per command")

	mux, err := rpc.NewMux("keymaster", commands)
	require.NoError(t, err)
	assert.ElementsMatch(t, documented, mux.Commands())
}
