package tatest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TestDocCommands reads each layout of command table that
// docs/protocol.md uses, and only the rows of the named section.
func TestDocCommands(t *testing.T) {
	const doc = "# Protocol\n\n" +
		"### 1.1 Other\n\n| `0x9` | `ELSEWHERE` | `VALUE_INPUT` |\n\n" +
		"### 2.1 Cells\n\n" +
		"| code | name | p0 | p1 | p2 | p3 |\n|---|---|---|---|---|---|\n" +
		"| `0x00000000` | `GENERATE` | `MEMREF_INPUT` params | `MEMREF_OUTPUT` blob | `NONE` | `NONE` |\n" +
		"| `0x00000001` | `BEGIN` | `MEMREF_INPUT` blob | `VALUE_INPUT` a = purpose | `MEMREF_INPUT` HAT | `VALUE_OUTPUT` handle |\n\n" +
		"### 3.2 Commas\n\n" +
		"| `0x0` | `ENROLL` | `IGatekeeper.enroll`, `GK_ENROLL` | `VALUE_INOUT`, `MEMREF_INPUT`, `MEMREF_OUTPUT` |\n\n" +
		"### 9.2 Empty cells\n\n" +
		"| `0x1` | `PRE_ENROLL` | `preEnroll` | `VALUE_OUTPUT` challenge | | | |\n\n" +
		"### 8.4 Semicolons\n\n" +
		"| `0x0` | `DELIVER` | (bio TA) | `MEMREF_INPUT` envelope; `VALUE_OUTPUT` `a` = type, `b` = flags |\n"
	path := filepath.Join(t.TempDir(), "protocol.md")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))

	tests := []struct {
		name string
		d    DocTable
		want []rpc.CommandSpec
	}{
		{"one column per parameter, NONE", DocTable{Section: "### 2.1 Cells"}, []rpc.CommandSpec{
			{Code: 0, Name: "GENERATE", Params: tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}},
			{Code: 1, Name: "BEGIN", Params: tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput}},
		}},
		{"comma-separated", DocTable{Section: "### 3.2 Commas", Skip: 1, Sep: ","}, []rpc.CommandSpec{
			{Code: 0, Name: "ENROLL", Params: tee.ParamTypes{tee.ParamValueInout, tee.ParamMemrefInput, tee.ParamMemrefOutput}},
		}},
		{"empty cells", DocTable{Section: "### 9.2 Empty cells", Skip: 1}, []rpc.CommandSpec{
			{Code: 1, Name: "PRE_ENROLL", Params: tee.ParamTypes{tee.ParamValueOutput}},
		}},
		{"semicolon-separated", DocTable{Section: "### 8.4 Semicolons", Skip: 1, Sep: ";"}, []rpc.CommandSpec{
			{Code: 0, Name: "DELIVER", Params: tee.ParamTypes{tee.ParamMemrefInput, tee.ParamValueOutput}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.d.Doc = path
			assert.Equal(t, tt.want, DocCommands(t, tt.d))
		})
	}
}
