package tacore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/marks"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

var (
	errTestConfig = errors.New("testta: bad configuration")
	testMarks     = marks.MustTable("t_replay_marks", nil)
	testSpec      = Spec{
		Name:      "testta",
		Schema:    store.Schema{store.SQL("test v1", testMarks.CreateSQL())},
		Marks:     testMarks,
		ErrConfig: errTestConfig,
	}
)

type fixture struct {
	dir  string
	keys envelope.Keyring
	km   *envelope.Sealer
	key  []byte
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{dir: t.TempDir(), keys: tatest.Keyring(t), key: tatest.Rand(t, tokens.KeySize)}
	var err error
	f.km, err = envelope.NewSealer(tee.UUIDKeymaster, f.keys.For(tee.UUIDKeymaster), nil)
	require.NoError(t, err)
	return f
}

func (f *fixture) config(t testing.TB) Config {
	return Config{
		Self:       tee.UUIDGatekeeper,
		StorageKey: tatest.Rand(t, 32),
		DBPath:     filepath.Join(f.dir, "ta.db"),
		Keys:       f.keys.For(tee.UUIDGatekeeper),
		BootID:     tatest.Rand(t, 16),
		Clock:      tee.NewFakeClock(1),
	}
}

func (f *fixture) open(t testing.TB) *Core {
	c, err := New(f.config(t), testSpec)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewConfigErrors(t *testing.T) {
	f := newFixture(t)
	foreign, err := envelope.NewOpener(tee.UUIDFingerprint, f.keys.For(tee.UUIDFingerprint), envelope.NewMemoryGuard())
	require.NoError(t, err)
	gkOpener, err := envelope.NewOpener(tee.UUIDGatekeeper, f.keys.For(tee.UUIDGatekeeper), envelope.NewMemoryGuard())
	require.NoError(t, err)
	tests := []struct {
		name string
		spec Spec
		mod  func(c *Config)
	}{
		{name: "unknown self", mod: func(c *Config) { c.Self = tee.UUID{1} }},
		{name: "wrong role", mod: func(c *Config) { c.Self = tee.UUIDFingerprint }, spec: Spec{Role: tee.RoleGatekeeper}},
		{name: "no clock", mod: func(c *Config) { c.Clock = nil }},
		{name: "no store", mod: func(c *Config) { c.DBPath = "" }},
		{name: "store and path", mod: func(c *Config) { c.Store = &store.Store{} }},
		{name: "no keys", mod: func(c *Config) { c.Keys = nil }},
		{name: "foreign opener", mod: func(c *Config) { c.Keys, c.Opener = nil, foreign }},
		{name: "bad mac", mod: func(c *Config) { c.MACAlgorithm = 9 }},
		{name: "no boot id", mod: func(c *Config) { c.BootID = nil }},
		{name: "required boot id, opener", mod: func(c *Config) { c.Keys, c.Opener, c.BootID = nil, gkOpener, nil }, spec: Spec{RequireBootID: true}},
		{name: "required boot id too long", mod: func(c *Config) { c.BootID = make([]byte, marks.MaxBootIDLen+1) }, spec: Spec{RequireBootID: true}},
		{name: "guard fails", mod: func(*Config) {}, spec: Spec{Guard: func(*store.Store) (envelope.ReplayGuard, error) {
			return nil, io.ErrUnexpectedEOF
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config(t)
			cfg.DBPath = filepath.Join(t.TempDir(), "ta.db")
			tt.mod(&cfg)
			spec := testSpec
			spec.Role, spec.Guard, spec.RequireBootID = tt.spec.Role, tt.spec.Guard, tt.spec.RequireBootID
			c, err := New(cfg, spec)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorIs(t, err, errTestConfig, "the TA's own sentinel is wrapped too")
			assert.Nil(t, c)
		})
	}
}

func TestCallerOwnsStoreAndOpener(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(t)
	st, err := store.Open(cfg.DBPath, cfg.StorageKey, testSpec.Schema)
	require.NoError(t, err)
	defer st.Close()
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, f.keys.For(tee.UUIDGatekeeper), envelope.NewMemoryGuard())
	require.NoError(t, err)
	cfg.DBPath, cfg.Store, cfg.Keys, cfg.Opener = "", st, nil, o
	c, err := New(cfg, testSpec)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	require.NoError(t, st.Tx(context.Background(), func(*store.Tx) error { return nil }), "the caller's store stays open")
	assert.Same(t, o, c.Opener)
}

// TestNoStore: a TA without a sealed store (Spec.NoStore, Keymaster) gets
// the shared identity, clock, logger and randomness, is refused any store or
// envelope configuration, and its Tx and SetAuthTokenKey fail typed.
func TestNoStore(t *testing.T) {
	f := newFixture(t)
	spec := Spec{Name: "testta", Role: tee.RoleKeymaster, NoStore: true, ErrConfig: errTestConfig}
	base := Config{Self: tee.UUIDKeymaster, StorageKey: tatest.Rand(t, 32), Clock: tee.NewFakeClock(1)}

	c, err := New(base, spec)
	require.NoError(t, err)
	assert.Equal(t, tee.RoleKeymaster, c.Role)
	assert.Nil(t, c.Store)
	assert.Nil(t, c.Opener)
	assert.NotNil(t, c.Log)
	assert.NotNil(t, c.Rand)
	require.ErrorIs(t, c.Tx(context.Background(), func(*store.Tx) error { return nil }), ErrNoStore)
	require.ErrorIs(t, c.SetAuthTokenKey([]byte("env")), ErrNoStore)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")

	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"db path", func(c *Config) { c.DBPath = filepath.Join(f.dir, "km.db") }},
		{"store", func(c *Config) { c.Store = &store.Store{} }},
		{"keys", func(c *Config) { c.Keys = f.keys.For(tee.UUIDKeymaster) }},
		{"boot id", func(c *Config) { c.BootID = []byte{1} }},
		{"wrong role", func(c *Config) { c.Self = tee.UUIDGatekeeper }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			c, err := New(cfg, spec)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorIs(t, err, errTestConfig)
			assert.Nil(t, c)
		})
	}
}

func TestSetAuthTokenKey(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	seal := func(to tee.UUID, typ envelope.MsgType, payload []byte) []byte {
		env, err := f.km.Seal(to, typ, payload)
		require.NoError(t, err)
		return env
	}
	fp, err := envelope.NewSealer(tee.UUIDFingerprint, f.keys.For(tee.UUIDFingerprint), nil)
	require.NoError(t, err)
	fromFP, err := fp.Seal(tee.UUIDPayment, envelope.MsgBioAuthResult, f.key)
	require.NoError(t, err)

	tests := []struct {
		name string
		env  []byte
		want error
		code tee.Result
	}{
		{name: "malformed", env: []byte{1, 2, 3}, want: envelope.ErrMalformed, code: tee.ResultBadFormat},
		{name: "other recipient", env: seal(tee.UUIDFingerprint, envelope.MsgAuthTokenKey, f.key), want: envelope.ErrWrongRecipient, code: tee.ResultAccessDenied},
		{name: "not ours at all", env: fromFP, want: envelope.ErrWrongRecipient, code: tee.ResultAccessDenied},
		{name: "short key", env: seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, f.key[:31]), want: ErrKeyPayload, code: tee.ResultBadFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.SetAuthTokenKey(tt.env)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, tt.code, tee.ResultOf(TEEError(err)))
			assert.False(t, c.HasAuthTokenKey())
		})
	}

	env := seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, f.key)
	require.NoError(t, c.SetAuthTokenKey(env))
	require.True(t, c.HasAuthTokenKey())
	want, err := tokens.NewMAC(tokens.HMACSHA256, f.key)
	require.NoError(t, err)
	tok := tokens.Token{Challenge: 7}
	c.AuthTokenMAC().Sign(&tok)
	assert.NoError(t, want.Check(&tok), "the installed key is Keymaster's")

	err = c.SetAuthTokenKey(env)
	require.ErrorIs(t, err, envelope.ErrReplay)
	assert.Equal(t, tee.ResultSecurity, tee.ResultOf(TEEError(err)))
	require.NoError(t, c.Close())
	assert.False(t, c.HasAuthTokenKey(), "Close forgets the key")
}

func TestTEEError(t *testing.T) {
	storeErr := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		code tee.Result // 0: passed through as is
	}{
		{name: "nil", err: nil},
		{name: "envelope", err: fmt.Errorf("x: %w", envelope.ErrAuth), code: tee.ResultSecurity},
		{name: "key payload", err: fmt.Errorf("x: %w", ErrKeyPayload), code: tee.ResultBadFormat},
		{name: "wrong sender", err: ErrWrongSender, code: tee.ResultAccessDenied},
		{name: "no key", err: ErrNoAuthTokenKey, code: tee.ResultBadState},
		{name: "TA's own", err: fmt.Errorf("quota: %w", tee.Errorf(tee.ResultOutOfMemory, tee.OriginTrustedApp, "full")), code: tee.ResultOutOfMemory},
		{name: "opaque", err: storeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TEEError(tt.err)
			if tt.code == 0 {
				assert.Equal(t, tt.err, got)
				return
			}
			var te *tee.Error
			require.ErrorAs(t, got, &te)
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, tee.OriginTrustedApp, te.Origin)
		})
	}
}

func TestTx(t *testing.T) {
	c := newFixture(t).open(t)
	ctx := context.Background()
	require.NoError(t, c.Tx(ctx, func(*store.Tx) error { return ErrNoWrite }), "ErrNoWrite is a success")
	boom := errors.New("boom")
	require.ErrorIs(t, c.Tx(ctx, func(*store.Tx) error { return boom }), boom)
}

// lagCounter is a rollback counter whose writes fail once fail is set:
// every commit is then store.ErrCounterLag (committed, counter not
// advanced).
type lagCounter struct {
	v    uint64
	fail bool
}

func (c *lagCounter) Read() (uint64, error) { return c.v, nil }

func (c *lagCounter) Increment(to uint64) error {
	if c.fail {
		return errors.New("rpmb write interrupted")
	}
	c.v = to
	return nil
}

func TestTxCounterLag(t *testing.T) {
	tests := []struct {
		name    string
		commits bool
		wantErr bool
	}{
		{name: "default: the lag is the caller's error", commits: false, wantErr: true},
		{name: "CounterLagCommits: the commit is a success", commits: true, wantErr: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			cfg := f.config(t)
			ctr := &lagCounter{}
			cfg.StoreOptions = []store.Option{store.WithCounter(ctr)}
			spec := testSpec
			spec.Schema = append(store.Schema{}, testSpec.Schema...)
			spec.Schema = append(spec.Schema, store.SQL("test v2", "CREATE TABLE t_rows (v INTEGER NOT NULL);"))
			spec.CounterLagCommits = tt.commits
			c, err := New(cfg, spec)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			ctr.fail = true
			ctx := context.Background()
			err = c.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec("INSERT INTO t_rows(v) VALUES (1)")
				return err
			})
			if tt.wantErr {
				require.ErrorIs(t, err, store.ErrCounterLag)
			} else {
				require.NoError(t, err)
			}
			var n int
			require.NoError(t, c.Store.View(ctx, func(tx *store.Tx) error {
				return tx.QueryRow("SELECT count(*) FROM t_rows").Scan(&n)
			}))
			assert.Equal(t, 1, n, "the change is committed either way")
			require.NoError(t, c.Tx(ctx, func(*store.Tx) error { return ErrNoWrite }))
		})
	}
}

func TestInstallAuthTokenKey(t *testing.T) {
	c := newFixture(t).open(t)
	tests := []struct {
		name string
		key  []byte
		want error
	}{
		{name: "short", key: make([]byte, tokens.KeySize-1), want: ErrKeyPayload},
		{name: "long", key: make([]byte, tokens.KeySize+1), want: ErrKeyPayload},
		{name: "key", key: bytes.Repeat([]byte{7}, tokens.KeySize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.InstallAuthTokenKey(tt.key)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.False(t, c.HasAuthTokenKey())
				return
			}
			require.NoError(t, err)
			require.True(t, c.HasAuthTokenKey())
			want, err := tokens.NewMAC(tokens.HMACSHA256, tt.key)
			require.NoError(t, err)
			tok := tokens.Token{Challenge: 9}
			c.AuthTokenMAC().Sign(&tok)
			assert.NoError(t, want.Check(&tok))
		})
	}
}

func TestRandomNonZero(t *testing.T) {
	c := newFixture(t).open(t)
	// Eight zero bytes are redrawn.
	c.Rand = io.MultiReader(bytes.NewReader(make([]byte, 8)), bytes.NewReader([]byte{5, 0, 0, 0, 0, 0, 0, 0}))
	v, err := c.RandomNonZero()
	require.NoError(t, err)
	assert.Equal(t, uint64(5), v)
	c.Rand = bytes.NewReader(nil)
	_, err = c.RandomNonZero()
	require.ErrorIs(t, err, io.EOF)
}

// TestRequireBootIDWithOpener: a TA that requires a boot id (the
// fingerprint TA) gets one through New also when it brings its own Opener.
func TestRequireBootIDWithOpener(t *testing.T) {
	f := newFixture(t)
	op, err := envelope.NewOpener(tee.UUIDGatekeeper, f.keys.For(tee.UUIDGatekeeper), envelope.NewMemoryGuard())
	require.NoError(t, err)
	cfg := f.config(t)
	cfg.Keys, cfg.Opener = nil, op
	spec := testSpec
	spec.RequireBootID = true
	c, err := New(cfg, spec)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	assert.Equal(t, cfg.BootID, c.BootID)
}

func TestKeyInstalled(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	env, err := f.km.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, f.key)
	require.NoError(t, err)
	require.NoError(t, c.KeyInstalled(c.SetAuthTokenKey(env)))
	err = c.KeyInstalled(c.SetAuthTokenKey([]byte("not an envelope")))
	require.Error(t, err)
	require.NotEqual(t, tee.ResultGeneric, tee.ResultOf(err), "a refused envelope is a typed TEEC result: %v", err)
}

func TestWrapf(t *testing.T) {
	require.NoError(t, Wrapf(nil, "user %d", 1))
	cause := errors.New("cause")
	err := Wrapf(cause, "user %d", 1)
	require.ErrorIs(t, err, cause)
	require.EqualError(t, err, "user 1: cause")
}
