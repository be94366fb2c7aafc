package tatest

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

// DocTable says where a TA's command table stands in docs/protocol.md and
// how its rows are laid out. Every row starts with the code and the name,
// "| `0x1` | `VERIFY` |"; then come Skip columns of prose (the AOSP
// method, the caller), then the parameters, each starting with its type in
// backquotes ("`MEMREF_INPUT` key blob"; `NONE` or an empty piece is an
// unused parameter).
type DocTable struct {
	// Doc is the path of docs/protocol.md from the test's package.
	Doc string
	// Section is the heading that starts the table's section, as written
	// ("### 3.2 Commands").
	Section string
	// Skip is how many prose columns stand between the name and the
	// parameters.
	Skip int
	// Sep separates the parameters when they share one column ("," or
	// ";"); empty means one column per parameter.
	Sep string
}

// rowPattern is a command row: code, name, and the rest of the row.
var rowPattern = regexp.MustCompile("(?m)^\\| `(0x[0-9a-fA-F]+)` \\| `([A-Z_]+)` \\|(.*)\\|$")

// typeLead is the parameter type that starts a parameter's piece.
var typeLead = regexp.MustCompile("^`([A-Z_]+)`")

// docParamTypes are the parameter types a command table may name.
var docParamTypes = []tee.ParamType{tee.ParamNone, tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout}

// DocParamName is how docs/protocol.md writes a parameter type in command
// tables: TEEC_MEMREF_TEMP_INPUT is MEMREF_INPUT, TEEC_NONE is NONE.
func DocParamName(t tee.ParamType) string {
	return strings.Replace(strings.TrimPrefix(t.String(), "TEEC_"), "MEMREF_TEMP_", "MEMREF_", 1)
}

// DocCommands reads the command table that d locates and returns its rows
// in the order written. It fails the test if the section is missing, holds
// no row, or a parameter names no known type.
func DocCommands(t testing.TB, d DocTable) []rpc.CommandSpec {
	t.Helper()
	doc, err := os.ReadFile(d.Doc)
	require.NoError(t, err)
	sec := string(doc)
	start := strings.Index(sec, d.Section)
	require.GreaterOrEqual(t, start, 0, "section %q", d.Section)
	sec = sec[start:]
	if end := strings.Index(sec[1:], "\n### "); end >= 0 {
		sec = sec[:end+1]
	}

	var documented []rpc.CommandSpec
	for _, m := range rowPattern.FindAllStringSubmatch(sec, -1) {
		code, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err)
		spec := rpc.CommandSpec{Code: uint32(code), Name: m[2]}
		cols := strings.Split(m[3], "|")
		require.Greater(t, len(cols), d.Skip, "%s: too few columns", spec.Name)
		var pieces []string
		for _, c := range cols[d.Skip:] {
			if d.Sep == "" {
				pieces = append(pieces, c)
			} else {
				pieces = append(pieces, strings.Split(c, d.Sep)...)
			}
		}
		require.LessOrEqual(t, len(pieces), len(spec.Params), "%s: too many parameters", spec.Name)
		for i, p := range pieces {
			spec.Params[i] = docParamType(t, spec.Name, i, strings.TrimSpace(p))
		}
		documented = append(documented, spec)
	}
	require.NotEmpty(t, documented, "section %q has no command rows", d.Section)
	return documented
}

// docParamType is the type that starts piece, the i-th parameter of the
// command name; an empty piece is an unused parameter.
func docParamType(t testing.TB, name string, i int, piece string) tee.ParamType {
	t.Helper()
	if piece == "" {
		return tee.ParamNone
	}
	lead := typeLead.FindStringSubmatch(piece)
	require.NotNil(t, lead, "%s: parameter %d %q names no type", name, i, piece)
	for _, pt := range docParamTypes {
		if DocParamName(pt) == lead[1] {
			return pt
		}
	}
	require.Failf(t, "unknown parameter type", "%s: parameter %d type %q", name, i, lead[1])
	return tee.ParamNone
}

// CommandTableMatchesDoc holds a TA's command table — codes, names,
// parameter layouts, as rpc.NewMux(ta, commands).Commands lists them in
// code order — against the table d locates, row by row: one row per
// command, written in code order.
func CommandTableMatchesDoc[S any, C rpc.Code](t *testing.T, ta string, commands map[C]rpc.Route[S], d DocTable) {
	t.Helper()
	mux, err := rpc.NewMux(ta, commands)
	require.NoError(t, err)
	assert.Equal(t, DocCommands(t, d), mux.Commands())
}
