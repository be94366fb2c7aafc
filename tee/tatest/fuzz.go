package tatest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// ParamKinds is every GlobalPlatform parameter type a TEEC_Operation can
// carry, in the order FuzzParams indexes them: NONE, VALUE_INPUT,
// VALUE_OUTPUT, VALUE_INOUT, MEMREF_INPUT, MEMREF_OUTPUT, MEMREF_INOUT.
var ParamKinds = []tee.ParamType{tee.ParamNone, tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout,
	tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout}

// FuzzParams builds the four parameters a hostile REE client could send
// from a fuzzer's input: types[i] (modulo len(ParamKinds)) picks parameter
// i's type, NONE past the end of types; every parameter carries the values
// a and b; an input or in-out memref carries data, an output memref no
// data and a capacity of outSize bytes.
func FuzzParams(types []byte, a, b uint32, data []byte, outSize uint32) tee.Params {
	var p tee.Params
	for i := range p {
		var k tee.ParamType
		if i < len(types) {
			k = ParamKinds[int(types[i])%len(ParamKinds)]
		}
		p[i] = tee.Param{Type: k, A: a, B: b}
		switch k {
		case tee.ParamMemrefInput, tee.ParamMemrefInout:
			p[i].Data, p[i].Size = data, uint32(len(data))
		case tee.ParamMemrefOutput:
			p[i].Size = outSize
		}
	}
	return p
}

// InvokeHostile invokes cmd with p on s, giving the call timeout, and
// checks what every TA owes a hostile client (the rpc.TASession contract):
// the call returns (no panic), the parameter types are left alone, and a
// failure is a TEEC result other than SUCCESS. It returns the call's error
// for the TA's own checks.
func InvokeHostile(t testing.TB, s rpc.TASession, cmd uint32, p *tee.Params, timeout time.Duration) error {
	t.Helper()
	types := p.Types()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.Invoke(ctx, cmd, p)
	require.Equal(t, types, p.Types(), "the TA never changes parameter types")
	if err != nil {
		require.NotEqual(t, tee.Success, tee.ResultOf(err), "a failure is not TEEC_SUCCESS: %v", err)
	}
	return err
}
