package tatest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func TestFuzzParams(t *testing.T) {
	data := []byte("abc")
	tests := []struct {
		name  string
		types []byte
		want  tee.Params
	}{
		{"no types: all NONE", nil, tee.Params{{A: 1, B: 2}, {A: 1, B: 2}, {A: 1, B: 2}, {A: 1, B: 2}}},
		{"every kind, wrapping", []byte{1, 2, 3, 4 + 7, 5, 6},
			tee.Params{
				{Type: tee.ParamValueInput, A: 1, B: 2},
				{Type: tee.ParamValueOutput, A: 1, B: 2},
				{Type: tee.ParamValueInout, A: 1, B: 2},
				{Type: tee.ParamMemrefInput, A: 1, B: 2, Data: data, Size: 3},
			}},
		{"output and in-out memrefs", []byte{5, 6, 0},
			tee.Params{
				{Type: tee.ParamMemrefOutput, A: 1, B: 2, Size: 9},
				{Type: tee.ParamMemrefInout, A: 1, B: 2, Data: data, Size: 3},
				{A: 1, B: 2},
				{A: 1, B: 2},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, FuzzParams(tc.types, 1, 2, data, 9))
		})
	}
}

// fakeSession answers every call with err after applying mutate.
type fakeSession struct {
	err    error
	mutate func(*tee.Params)
}

func (f fakeSession) Invoke(_ context.Context, _ uint32, p *tee.Params) error {
	if f.mutate != nil {
		f.mutate(p)
	}
	return f.err
}

func (fakeSession) Close() {}

func TestInvokeHostile(t *testing.T) {
	p := tee.Params{tee.ValueOut()}
	err := InvokeHostile(t, fakeSession{err: tee.ErrBadParameters}, 1, &p, time.Second)
	require.Equal(t, tee.ResultBadParameters, tee.ResultOf(err))
	require.NoError(t, InvokeHostile(t, fakeSession{mutate: func(p *tee.Params) { p[0].A = 7 }}, 1, &p, time.Second))
	require.Equal(t, uint32(7), p[0].A)
}
