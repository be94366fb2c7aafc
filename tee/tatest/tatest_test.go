package tatest

import (
	"context"
	"testing"

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
