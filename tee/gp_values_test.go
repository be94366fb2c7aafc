package tee

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gpValue is one GP constant: the Go constant under test, its value, the
// number GP gives it (pinned literally) and its GP name.
type gpValue struct {
	c    fmt.Stringer
	got  uint64
	want uint64
	name string
}

func gp[T interface {
	~uint8 | ~uint32
	fmt.Stringer
}](c T, want uint64, name string) gpValue {
	return gpValue{c: c, got: uint64(c), want: want, name: name}
}

// gpTables are the tables below by the GPD_SPE_007 section they transcribe.
var gpTables = map[string][]gpValue{
	"§4.4.2 results":         gpResults,
	"§4.4.3 origins":         gpOrigins,
	"§4.5.8 parameter types": gpParamTypes,
	"§4.5.2 login methods":   gpLogins,
}

// gpResults is GPD_SPE_007 (TEE Client API v1.0) §4.4.2 transcribed by hand,
// plus TEEC_ERROR_TARGET_DEAD from OP-TEE's tee_client_api.h: the numbers a
// C client compares against, so they are pinned here literally rather than
// derived from the constants under test.
var gpResults = []gpValue{
	gp(Success, 0x00000000, "TEEC_SUCCESS"),
	gp(ResultGeneric, 0xFFFF0000, "TEEC_ERROR_GENERIC"),
	gp(ResultAccessDenied, 0xFFFF0001, "TEEC_ERROR_ACCESS_DENIED"),
	gp(ResultCancel, 0xFFFF0002, "TEEC_ERROR_CANCEL"),
	gp(ResultAccessConflict, 0xFFFF0003, "TEEC_ERROR_ACCESS_CONFLICT"),
	gp(ResultExcessData, 0xFFFF0004, "TEEC_ERROR_EXCESS_DATA"),
	gp(ResultBadFormat, 0xFFFF0005, "TEEC_ERROR_BAD_FORMAT"),
	gp(ResultBadParameters, 0xFFFF0006, "TEEC_ERROR_BAD_PARAMETERS"),
	gp(ResultBadState, 0xFFFF0007, "TEEC_ERROR_BAD_STATE"),
	gp(ResultItemNotFound, 0xFFFF0008, "TEEC_ERROR_ITEM_NOT_FOUND"),
	gp(ResultNotImplemented, 0xFFFF0009, "TEEC_ERROR_NOT_IMPLEMENTED"),
	gp(ResultNotSupported, 0xFFFF000A, "TEEC_ERROR_NOT_SUPPORTED"),
	gp(ResultNoData, 0xFFFF000B, "TEEC_ERROR_NO_DATA"),
	gp(ResultOutOfMemory, 0xFFFF000C, "TEEC_ERROR_OUT_OF_MEMORY"),
	gp(ResultBusy, 0xFFFF000D, "TEEC_ERROR_BUSY"),
	gp(ResultCommunication, 0xFFFF000E, "TEEC_ERROR_COMMUNICATION"),
	gp(ResultSecurity, 0xFFFF000F, "TEEC_ERROR_SECURITY"),
	gp(ResultShortBuffer, 0xFFFF0010, "TEEC_ERROR_SHORT_BUFFER"),
	gp(ResultExternalCancel, 0xFFFF0011, "TEEC_ERROR_EXTERNAL_CANCEL"),
	gp(ResultTargetDead, 0xFFFF3024, "TEEC_ERROR_TARGET_DEAD"),
}

// gpOrigins is GPD_SPE_007 §4.4.3.
var gpOrigins = []gpValue{
	gp(OriginAPI, 1, "TEEC_ORIGIN_API"),
	gp(OriginComms, 2, "TEEC_ORIGIN_COMMS"),
	gp(OriginTEE, 3, "TEEC_ORIGIN_TEE"),
	gp(OriginTrustedApp, 4, "TEEC_ORIGIN_TRUSTED_APP"),
}

// gpParamTypes is GPD_SPE_007 §4.5.8 (the temporary-memory and value
// types; the registered-memory types 0xC–0xF are not carried).
var gpParamTypes = []gpValue{
	gp(ParamNone, 0x0, "TEEC_NONE"),
	gp(ParamValueInput, 0x1, "TEEC_VALUE_INPUT"),
	gp(ParamValueOutput, 0x2, "TEEC_VALUE_OUTPUT"),
	gp(ParamValueInout, 0x3, "TEEC_VALUE_INOUT"),
	gp(ParamMemrefInput, 0x5, "TEEC_MEMREF_TEMP_INPUT"),
	gp(ParamMemrefOutput, 0x6, "TEEC_MEMREF_TEMP_OUTPUT"),
	gp(ParamMemrefInout, 0x7, "TEEC_MEMREF_TEMP_INOUT"),
}

// gpLogins is GPD_SPE_007 §4.5.2 (connection methods).
var gpLogins = []gpValue{
	gp(LoginPublic, 0x0, "TEEC_LOGIN_PUBLIC"),
	gp(LoginUser, 0x1, "TEEC_LOGIN_USER"),
	gp(LoginGroup, 0x2, "TEEC_LOGIN_GROUP"),
	gp(LoginApplication, 0x4, "TEEC_LOGIN_APPLICATION"),
	gp(LoginUserApplication, 0x5, "TEEC_LOGIN_USER_APPLICATION"),
	gp(LoginGroupApplication, 0x6, "TEEC_LOGIN_GROUP_APPLICATION"),
}

func TestGPNumericValues(t *testing.T) {
	for section, table := range gpTables {
		for _, v := range table {
			assert.Equal(t, v.want, v.got, "%s %s", section, v.name)
			assert.Equal(t, v.name, v.c.String(), section)
		}
	}
	assert.Equal(t, "login(0x00000003)", Login(3).String())
	for _, v := range gpParamTypes {
		assert.True(t, v.c.(ParamType).Valid(), v.name)
	}
}

// docTableRow matches a row of docs/protocol.md that starts with a
// back-quoted number and a back-quoted GP name: "| `0xFFFF0010` |
// `TEEC_ERROR_SHORT_BUFFER` | …" or "| 3 | `TEEC_ORIGIN_TEE` | …".
var docTableRow = regexp.MustCompile("(?m)^\\| `?(0x[0-9A-Fa-f]+|[0-9]+)`? \\| `(TEEC_[A-Z_]+)` \\|")

// TestProtocolDocGPTables: the result, origin and parameter-type tables of
// docs/protocol.md §1.5 and §1.7 — what a C implementer codes against —
// list exactly the values of the code, and every value of the code.
func TestProtocolDocGPTables(t *testing.T) {
	raw, err := os.ReadFile("../docs/protocol.md")
	require.NoError(t, err)
	doc := string(raw)
	// Only §1 (CA→TA framing): later sections quote TA-specific subsets.
	start := strings.Index(doc, "## 1. CA→TA framing")
	end := strings.Index(doc, "## 2. Keymaster TA commands")
	require.True(t, start >= 0 && end > start, "protocol.md section 1 not found")
	doc = doc[start:end]

	got := map[string]uint64{}
	for _, m := range docTableRow.FindAllStringSubmatch(doc, -1) {
		v, err := strconv.ParseUint(m[1], 0, 32)
		require.NoError(t, err, m[0])
		if prev, dup := got[m[2]]; dup {
			require.Equal(t, prev, v, "%s listed twice with different values", m[2])
		}
		got[m[2]] = v
	}
	want := map[string]uint64{}
	for _, table := range gpTables {
		for _, v := range table {
			want[v.name] = v.want
		}
	}
	assert.Equal(t, want, got)
}
