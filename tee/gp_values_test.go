package tee

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gpResults is GPD_SPE_007 (TEE Client API v1.0) §4.4.2 transcribed by hand,
// plus TEEC_ERROR_TARGET_DEAD from OP-TEE's tee_client_api.h: the numbers a
// C client compares against, so they are pinned here literally rather than
// derived from the constants under test.
var gpResults = []struct {
	r    Result
	want uint32
	name string
}{
	{Success, 0x00000000, "TEEC_SUCCESS"},
	{ResultGeneric, 0xFFFF0000, "TEEC_ERROR_GENERIC"},
	{ResultAccessDenied, 0xFFFF0001, "TEEC_ERROR_ACCESS_DENIED"},
	{ResultCancel, 0xFFFF0002, "TEEC_ERROR_CANCEL"},
	{ResultAccessConflict, 0xFFFF0003, "TEEC_ERROR_ACCESS_CONFLICT"},
	{ResultExcessData, 0xFFFF0004, "TEEC_ERROR_EXCESS_DATA"},
	{ResultBadFormat, 0xFFFF0005, "TEEC_ERROR_BAD_FORMAT"},
	{ResultBadParameters, 0xFFFF0006, "TEEC_ERROR_BAD_PARAMETERS"},
	{ResultBadState, 0xFFFF0007, "TEEC_ERROR_BAD_STATE"},
	{ResultItemNotFound, 0xFFFF0008, "TEEC_ERROR_ITEM_NOT_FOUND"},
	{ResultNotImplemented, 0xFFFF0009, "TEEC_ERROR_NOT_IMPLEMENTED"},
	{ResultNotSupported, 0xFFFF000A, "TEEC_ERROR_NOT_SUPPORTED"},
	{ResultNoData, 0xFFFF000B, "TEEC_ERROR_NO_DATA"},
	{ResultOutOfMemory, 0xFFFF000C, "TEEC_ERROR_OUT_OF_MEMORY"},
	{ResultBusy, 0xFFFF000D, "TEEC_ERROR_BUSY"},
	{ResultCommunication, 0xFFFF000E, "TEEC_ERROR_COMMUNICATION"},
	{ResultSecurity, 0xFFFF000F, "TEEC_ERROR_SECURITY"},
	{ResultShortBuffer, 0xFFFF0010, "TEEC_ERROR_SHORT_BUFFER"},
	{ResultExternalCancel, 0xFFFF0011, "TEEC_ERROR_EXTERNAL_CANCEL"},
	{ResultTargetDead, 0xFFFF3024, "TEEC_ERROR_TARGET_DEAD"},
}

// gpOrigins is GPD_SPE_007 §4.4.3.
var gpOrigins = []struct {
	o    Origin
	want uint32
	name string
}{
	{OriginAPI, 1, "TEEC_ORIGIN_API"},
	{OriginComms, 2, "TEEC_ORIGIN_COMMS"},
	{OriginTEE, 3, "TEEC_ORIGIN_TEE"},
	{OriginTrustedApp, 4, "TEEC_ORIGIN_TRUSTED_APP"},
}

// gpParamTypes is GPD_SPE_007 §4.5.8 (the temporary-memory and value
// types; the registered-memory types 0xC–0xF are not carried).
var gpParamTypes = []struct {
	p    ParamType
	want uint8
	name string
}{
	{ParamNone, 0x0, "TEEC_NONE"},
	{ParamValueInput, 0x1, "TEEC_VALUE_INPUT"},
	{ParamValueOutput, 0x2, "TEEC_VALUE_OUTPUT"},
	{ParamValueInout, 0x3, "TEEC_VALUE_INOUT"},
	{ParamMemrefInput, 0x5, "TEEC_MEMREF_TEMP_INPUT"},
	{ParamMemrefOutput, 0x6, "TEEC_MEMREF_TEMP_OUTPUT"},
	{ParamMemrefInout, 0x7, "TEEC_MEMREF_TEMP_INOUT"},
}

// gpLogins is GPD_SPE_007 §4.5.2 (connection methods).
var gpLogins = []struct {
	l    Login
	want uint32
	name string
}{
	{LoginPublic, 0x0, "TEEC_LOGIN_PUBLIC"},
	{LoginUser, 0x1, "TEEC_LOGIN_USER"},
	{LoginGroup, 0x2, "TEEC_LOGIN_GROUP"},
	{LoginApplication, 0x4, "TEEC_LOGIN_APPLICATION"},
	{LoginUserApplication, 0x5, "TEEC_LOGIN_USER_APPLICATION"},
	{LoginGroupApplication, 0x6, "TEEC_LOGIN_GROUP_APPLICATION"},
}

func TestGPNumericValues(t *testing.T) {
	for _, tc := range gpLogins {
		assert.Equal(t, tc.want, uint32(tc.l), tc.name)
		assert.Equal(t, tc.name, tc.l.String())
	}
	assert.Equal(t, "login(0x00000003)", Login(3).String())
	for _, tc := range gpResults {
		assert.Equal(t, tc.want, uint32(tc.r), tc.name)
		assert.Equal(t, tc.name, tc.r.String())
	}
	for _, tc := range gpOrigins {
		assert.Equal(t, tc.want, uint32(tc.o), tc.name)
		assert.Equal(t, tc.name, tc.o.String())
	}
	for _, tc := range gpParamTypes {
		assert.Equal(t, tc.want, uint8(tc.p), tc.name)
		assert.Equal(t, tc.name, tc.p.String())
		assert.True(t, tc.p.Valid(), tc.name)
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
	for _, tc := range gpResults {
		want[tc.name] = uint64(tc.want)
	}
	for _, tc := range gpOrigins {
		want[tc.name] = uint64(tc.want)
	}
	for _, tc := range gpParamTypes {
		want[tc.name] = uint64(tc.want)
	}
	for _, tc := range gpLogins {
		want[tc.name] = uint64(tc.want)
	}
	assert.Equal(t, want, got)
}
