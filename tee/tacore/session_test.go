package tacore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

type testCmd uint32

func (c testCmd) String() string {
	if c == 1 {
		return "PING"
	}
	return ""
}

// TestSession: OpenSession takes no parameters; Invoke runs the table with
// the session's receiver and maps a handler's error with TEEError.
func TestSession(t *testing.T) {
	type recv struct{ name string }
	var got string
	mux, err := rpc.NewMux("testta", map[testCmd]rpc.Route[recv]{
		1: {Params: tee.ParamTypes{tee.ParamValueInput}, Handler: func(r recv, _ context.Context, p *tee.Params) error {
			got = r.name
			if p[0].A != 0 {
				return ErrNoAuthTokenKey
			}
			return nil
		}},
	})
	require.NoError(t, err)

	_, err = OpenSession(mux, recv{"r"}, &tee.Params{tee.Value(1, 0)})
	assert.Equal(t, tee.ResultBadParameters, tee.ResultOf(err))

	s, err := OpenSession(mux, recv{"r"}, &tee.Params{})
	require.NoError(t, err)
	defer s.Close()
	tests := []struct {
		name string
		cmd  uint32
		p    tee.Params
		want tee.Result
	}{
		{"ok", 1, tee.Params{tee.Value(0, 0)}, tee.Success},
		{"handler error mapped", 1, tee.Params{tee.Value(1, 0)}, tee.ResultBadState},
		{"wrong types", 1, tee.Params{}, tee.ResultBadParameters},
		{"unknown command", 2, tee.Params{}, tee.ResultNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tee.ResultOf(s.Invoke(context.Background(), tt.cmd, &tt.p)))
		})
	}
	assert.Equal(t, "r", got)
}

// TestCommands: the embedded Commands open sessions on the receiver the TA
// builds from the OpenSession context, and name the table's commands.
func TestCommands(t *testing.T) {
	type recv struct{ login tee.Login }
	var got recv
	table := map[testCmd]rpc.Route[recv]{
		1: {Handler: func(r recv, _ context.Context, _ *tee.Params) error { got = r; return nil }},
	}
	c, err := NewCommands("testta", table, func(ctx context.Context) recv {
		id, _ := rpc.ClientFrom(ctx)
		return recv{id.Login}
	})
	require.NoError(t, err)

	ctx := rpc.ContextWithClient(context.Background(), rpc.ClientIdentity{Login: tee.LoginUser})
	_, err = c.OpenSession(ctx, &tee.Params{tee.Value(1, 0)})
	assert.Equal(t, tee.ResultBadParameters, tee.ResultOf(err))
	s, err := c.OpenSession(ctx, &tee.Params{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Invoke(ctx, 1, &tee.Params{}))
	assert.Equal(t, recv{tee.LoginUser}, got)

	name, ok := c.CommandName(1)
	assert.True(t, ok)
	assert.Equal(t, "PING", name)
	_, ok = c.CommandName(2)
	assert.False(t, ok)

	var _ rpc.BlockingCommands = c
	assert.False(t, c.MayBlock(1), "a route not marked Blocks")
	blocking, err := NewCommands("testta", map[testCmd]rpc.Route[recv]{
		1: {Blocks: true, Handler: table[1].Handler},
	}, func(context.Context) recv { return recv{} })
	require.NoError(t, err)
	assert.True(t, blocking.MayBlock(1), "Blocks reaches the host through Commands")

	_, err = NewCommands("testta", map[testCmd]rpc.Route[recv]{1: {}}, nil)
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorIs(t, err, rpc.ErrMux)
}
