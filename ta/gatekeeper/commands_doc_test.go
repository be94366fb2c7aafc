package gatekeeper

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
// names, parameter layouts — against the table of docs/protocol.md §3.2,
// row by row.
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	require.NoError(t, err)
	sec := string(doc)
	start := strings.Index(sec, "### 3.2 Commands")
	require.GreaterOrEqual(t, start, 0, "section 3.2")
	sec = sec[start:]
	sec = sec[:strings.Index(sec[1:], "\n### ")+1]

	row := regexp.MustCompile("(?m)^\\| `(0x[0-9a-fA-F]+)` \\| `([A-Z_]+)` \\| [^|]* \\| ([^|]+) \\|$")
	var documented []rpc.CommandSpec
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		code, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err)
		spec := rpc.CommandSpec{Code: uint32(code), Name: m[2]}
		for i, f := range strings.Split(m[3], ",") {
			name := strings.Trim(strings.TrimSpace(f), "`")
			var found bool
			for _, pt := range []tee.ParamType{tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout} {
				if docParamName(pt) == name {
					spec.Params[i], found = pt, true
				}
			}
			require.True(t, found, "%s: parameter type %q", spec.Name, name)
		}
		documented = append(documented, spec)
	}
	require.NotEmpty(t, documented)

	mux, err := rpc.NewMux("gatekeeper", commands)
	require.NoError(t, err)
	assert.ElementsMatch(t, documented, mux.Commands())
}
