package rpc

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// muxCmd is a test TA's command code type.
type muxCmd uint32

const (
	muxAdd    muxCmd = 1
	muxEcho   muxCmd = 0x1000
	muxNoName muxCmd = 7
)

func (c muxCmd) String() string {
	switch c {
	case muxAdd:
		return "ADD"
	case muxEcho:
		return "ECHO"
	case muxNoName:
		return ""
	}
	return "mux_cmd(" + strconv.Itoa(int(c)) + ")"
}

// muxSession is the test TA's session: its state is what the handlers see.
type muxSession struct{ base uint32 }

func (s muxSession) add(_ context.Context, p *tee.Params) error {
	p.SetValue(1, s.base+p[0].A+p[0].B, 0)
	return nil
}

func (muxSession) echo(_ context.Context, p *tee.Params) error {
	p.SetOutput(1, p[0].Data)
	return nil
}

var muxRoutes = map[muxCmd]Route[muxSession]{
	muxAdd:  {Params: tee.ParamTypes{tee.ParamValueInput, tee.ParamValueOutput}, Handler: muxSession.add},
	muxEcho: {Params: tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}, Handler: muxSession.echo},
}

func newTestMux(t testing.TB) *Mux[muxSession, muxCmd] {
	t.Helper()
	m, err := NewMux("muxta", muxRoutes)
	require.NoError(t, err)
	return m
}

func TestMuxInvoke(t *testing.T) {
	m := newTestMux(t)
	tests := []struct {
		name   string
		cmd    uint32
		params tee.Params
		code   tee.Result // 0: success
		check  func(t *testing.T, p *tee.Params)
	}{
		{
			name: "handler runs with the session", cmd: uint32(muxAdd),
			params: tee.Params{tee.Value(2, 3), tee.ValueOut()},
			check:  func(t *testing.T, p *tee.Params) { assert.Equal(t, uint32(105), p[1].A) },
		},
		{
			name: "second command", cmd: uint32(muxEcho),
			params: tee.Params{tee.MemrefIn([]byte("hi")), tee.MemrefOut(8)},
			check:  func(t *testing.T, p *tee.Params) { assert.Equal(t, []byte("hi"), p[1].Data) },
		},
		{name: "unknown command", cmd: 2, params: tee.Params{tee.Value(2, 3), tee.ValueOut()}, code: tee.ResultNotSupported},
		{name: "unknown command with a known one's high bits", cmd: 0x1001, code: tee.ResultNotSupported},
		{name: "wrong types", cmd: uint32(muxAdd), params: tee.Params{tee.ValueInout(2, 3), tee.ValueOut()}, code: tee.ResultBadParameters},
		{name: "extra parameter", cmd: uint32(muxAdd), params: tee.Params{tee.Value(2, 3), tee.ValueOut(), tee.ValueOut()}, code: tee.ResultBadParameters},
		{name: "missing parameter", cmd: uint32(muxEcho), params: tee.Params{tee.MemrefIn(nil)}, code: tee.ResultBadParameters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			err := m.Invoke(context.Background(), muxSession{base: 100}, tt.cmd, &p)
			if tt.code == tee.Success {
				require.NoError(t, err)
				tt.check(t, &p)
				return
			}
			var te *tee.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, tee.OriginTrustedApp, te.Origin)
		})
	}
}

func TestNewMuxRejectsBadTables(t *testing.T) {
	tests := []struct {
		name   string
		routes map[muxCmd]Route[muxSession]
	}{
		{name: "nil handler", routes: map[muxCmd]Route[muxSession]{muxAdd: {Params: tee.ParamTypes{tee.ParamValueInput}}}},
		{name: "unnamed command", routes: map[muxCmd]Route[muxSession]{muxNoName: {Handler: muxSession.echo}}},
		{name: "invalid parameter type", routes: map[muxCmd]Route[muxSession]{muxAdd: {Params: tee.ParamTypes{0x0C}, Handler: muxSession.add}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMux("muxta", tt.routes)
			require.ErrorIs(t, err, ErrMux)
		})
	}
}

func TestMuxListsCommandsInOrder(t *testing.T) {
	m := newTestMux(t)
	assert.Equal(t, []CommandSpec{
		{Code: 1, Name: "ADD", Params: tee.ParamTypes{tee.ParamValueInput, tee.ParamValueOutput}},
		{Code: 0x1000, Name: "ECHO", Params: tee.ParamTypes{tee.ParamMemrefInput, tee.ParamMemrefOutput}},
	}, m.Commands())
	name, ok := m.CommandName(0x1000)
	assert.True(t, ok)
	assert.Equal(t, "ECHO", name)
	_, ok = m.CommandName(2)
	assert.False(t, ok, "a command outside the table has no name")
}

// muxTA serves the test Mux behind a real host.
type muxTA struct{ mux *Mux[muxSession, muxCmd] }

func (ta muxTA) OpenSession(context.Context, *tee.Params) (TASession, error) {
	return muxTASession{ta.mux, muxSession{}}, nil
}

func (ta muxTA) CommandName(cmd uint32) (string, bool) { return ta.mux.CommandName(cmd) }

type muxTASession struct {
	mux *Mux[muxSession, muxCmd]
	s   muxSession
}

func (s muxTASession) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return s.mux.Invoke(ctx, s.s, cmd, p)
}

func (muxTASession) Close() {}

// TestMuxOverHost checks the wire answer to an unknown command and that the
// host's per-command log line names known commands.
func TestMuxOverHost(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv := NewServer(testUUID, muxTA{newTestMux(t)}, zap.New(core))
	path := filepath.Join(testkit.ShortDir(t), "mux.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	ctx := testCtx(t)
	c, err := Dial(ctx, path)
	require.NoError(t, err)
	defer c.Close()
	s, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)

	p := tee.Params{tee.Value(1, 2), tee.ValueOut()}
	require.NoError(t, s.Invoke(ctx, uint32(muxAdd), &p))
	err = s.Invoke(ctx, 42, &tee.Params{})
	te := teeErr(t, err)
	assert.Equal(t, tee.ResultNotSupported, te.Code)
	assert.Equal(t, tee.OriginTrustedApp, te.Origin)

	byCmd := map[uint32]map[string]any{}
	levels := map[uint32]zapcore.Level{}
	for _, e := range logs.FilterMessage("command").All() {
		m := e.ContextMap()
		if m["op"] == "INVOKE" {
			byCmd[m["cmd"].(uint32)] = m
			levels[m["cmd"].(uint32)] = e.Level
		}
	}
	assert.Equal(t, zapcore.DebugLevel, levels[uint32(muxAdd)], "a success is debug")
	assert.Equal(t, zapcore.InfoLevel, levels[42], "a failure is info")
	require.Contains(t, byCmd, uint32(muxAdd))
	assert.Equal(t, "ADD", byCmd[uint32(muxAdd)]["name"])
	require.Contains(t, byCmd, uint32(42))
	assert.NotContains(t, byCmd[42], "name", "an unknown command is logged by number only")
	assert.False(t, errors.Is(err, tee.ErrTargetDead))
}
