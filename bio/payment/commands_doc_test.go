package payment

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// docParamName is how docs/protocol.md writes a parameter type in command
// tables: TEEC_MEMREF_TEMP_INPUT is MEMREF_INPUT.
func docParamName(t tee.ParamType) string {
	return strings.Replace(strings.TrimPrefix(t.String(), "TEEC_"), "MEMREF_TEMP_", "MEMREF_", 1)
}

// paramLead is the parameter type that starts a piece of the parameters
// column.
var paramLead = regexp.MustCompile("^`([A-Z_]+)`")

// TestCommandTableMatchesProtocolDoc holds the TA's command table — codes,
// names, parameter layouts — against the table of docs/protocol.md §8.4,
// row by row.
func TestCommandTableMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	require.NoError(t, err)
	sec := string(doc)
	start := strings.Index(sec, "### 8.4 Payment TA")
	require.GreaterOrEqual(t, start, 0, "section 8.4")
	sec = sec[start:]
	sec = sec[:strings.Index(sec[1:], "\n### ")+1]

	row := regexp.MustCompile("(?m)^\\| `(0x[0-9a-fA-F]+)` \\| `([A-Z_]+)` \\| [^|]* \\| ([^|]+) \\|$")
	var documented []rpc.CommandSpec
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		code, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err)
		spec := rpc.CommandSpec{Code: uint32(code), Name: m[2]}
		// The parameters column lists one parameter per ";"-separated
		// piece, its type first: "`MEMREF_INPUT` KeyRef; `VALUE_INPUT` …".
		for i, f := range strings.Split(m[3], ";") {
			lead := paramLead.FindStringSubmatch(strings.TrimSpace(f))
			require.NotNil(t, lead, "%s: parameter %d: %q", m[2], i, f)
			name := lead[1]
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

	mux, err := rpc.NewMux("payment", commands)
	require.NoError(t, err)
	assert.ElementsMatch(t, documented, mux.Commands())
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
