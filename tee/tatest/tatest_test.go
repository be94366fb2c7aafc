package tatest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// echoTA answers command 1 by copying memref p0 into memref p1.
type echoTA struct{ opened int }

func (e *echoTA) OpenSession(_ context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	e.opened++
	return echoSession{}, nil
}

type echoSession struct{}

func (echoSession) Close() {}

func (echoSession) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	if cmd != 1 {
		return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "command %d", cmd)
	}
	if err := p.Expect(tee.ParamMemrefInput, tee.ParamMemrefOutput); err != nil {
		return err
	}
	p.SetOutput(1, p[0].Data)
	return nil
}

func TestServeUnix(t *testing.T) {
	ta := &echoTA{}
	var s *rpc.Session
	t.Run("serve", func(t *testing.T) {
		s = ServeUnix(t, tee.UUIDGatekeeper, ta)
		var p tee.Params
		p[0] = tee.Param{Type: tee.ParamMemrefInput, Data: []byte("ping")}
		p[1] = tee.Param{Type: tee.ParamMemrefOutput, Size: 16}
		require.NoError(t, s.Invoke(context.Background(), 1, &p))
		require.Equal(t, []byte("ping"), p[1].Data)
		err := s.Invoke(context.Background(), 2, &tee.Params{})
		require.ErrorIs(t, err, &tee.Error{Code: tee.ResultNotSupported})
		require.Equal(t, 1, ta.opened)
	})
	// The subtest's cleanup closed the session and shut the server down.
	err := s.Invoke(context.Background(), 1, &tee.Params{})
	require.Error(t, err)
}

func TestKeyring(t *testing.T) {
	a, b := Keyring(t), Keyring(t)
	require.Len(t, a, len(tee.Routes))
	for _, r := range tee.Routes {
		require.Contains(t, a, r)
		require.NotEqual(t, a[r], b[r], "keys are drawn afresh: %s", r)
	}
	require.Len(t, Rand(t, 33), 33)
	require.NotEqual(t, Rand(t, 16), Rand(t, 16))
}

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
