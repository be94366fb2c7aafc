package tee

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParamTypesLayout(t *testing.T) {
	tests := []struct {
		name  string
		types ParamTypes
		str   string
		match Params
		other Params
	}{
		{
			name: "two used", types: ParamTypes{ParamValueInout, ParamMemrefInput},
			str:   "TEEC_VALUE_INOUT, TEEC_MEMREF_TEMP_INPUT",
			match: Params{ValueInout(1, 2), MemrefIn(nil)},
			other: Params{ValueInout(1, 2), MemrefIn(nil), ValueOut()},
		},
		{name: "none", types: ParamTypes{}, str: "TEEC_NONE", other: Params{Value(0, 0)}},
		{
			name: "gap", types: ParamTypes{ParamNone, ParamValueOutput},
			str: "TEEC_NONE, TEEC_VALUE_OUTPUT", match: Params{{}, ValueOut()}, other: Params{ValueOut()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.str, tt.types.String())
			assert.NoError(t, tt.types.Check(&tt.match))
			assert.ErrorIs(t, tt.types.Check(&tt.other), ErrBadParameters)
		})
	}
}
