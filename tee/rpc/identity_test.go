package rpc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// TestClientUUIDGolden pins ClientUUID to vectors computed independently
// (Python's uuid.uuid5 in namespace 58ac9ca0-2086-4683-a1b8-ec4bc08e01b6,
// the tee_client_uuid_ns of Linux drivers/tee/tee_core.c); docs/protocol.md
// §1.12 quotes them.
func TestClientUUIDGolden(t *testing.T) {
	cases := []struct {
		login    tee.Login
		uid, gid uint32
		want     string
	}{
		{tee.LoginUser, 1000, 0, "fc34275c-d8dd-5ba7-968b-504718363b87"},   // "uid=3e8"
		{tee.LoginUser, 0, 7, "ef0180a3-13f3-5d1c-b7f5-888c0e21059a"},      // "uid=0": gid ignored
		{tee.LoginUser, 1001, 0, "a51aa430-d8bb-5880-9c5c-65ad1a49bb75"},   // "uid=3e9"
		{tee.LoginGroup, 99, 1000, "0ece43ed-001d-51bd-bab7-480c8954c3cf"}, // "gid=3e8": uid ignored
		{tee.LoginPublic, 1000, 1000, "00000000-0000-0000-0000-000000000000"},
	}
	for _, tc := range cases {
		u, ok := ClientUUID(tc.login, tc.uid, tc.gid)
		require.True(t, ok)
		assert.Equal(t, tc.want, u.String(), "%v uid %d gid %d", tc.login, tc.uid, tc.gid)
	}
	for _, l := range []tee.Login{tee.LoginApplication, tee.LoginUserApplication, tee.LoginGroupApplication, 3, 7} {
		_, ok := ClientUUID(l, 1, 1)
		assert.False(t, ok, "%v has no identity", l)
	}
}

// identityTA records the identity its entry points see.
type identityTA struct {
	mu     sync.Mutex
	opened []ClientIdentity
	seen   []ClientIdentity
}

func (a *identityTA) OpenSession(ctx context.Context, _ *tee.Params) (TASession, error) {
	id, ok := ClientFrom(ctx)
	if !ok {
		return nil, tee.Errorf(tee.ResultGeneric, tee.OriginTrustedApp, "no identity")
	}
	a.mu.Lock()
	a.opened = append(a.opened, id)
	a.mu.Unlock()
	return identitySession{a}, nil
}

type identitySession struct{ a *identityTA }

func (s identitySession) Invoke(ctx context.Context, _ uint32, p *tee.Params) error {
	id, _ := ClientFrom(ctx)
	s.a.mu.Lock()
	s.a.seen = append(s.a.seen, id)
	s.a.mu.Unlock()
	return nil
}

func (identitySession) Close() {}

func (a *identityTA) last() (opened, seen ClientIdentity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opened[len(a.opened)-1], a.seen[len(a.seen)-1]
}

func startIdentityServer(t *testing.T) (*identityTA, *Server, string) {
	t.Helper()
	ta := &identityTA{}
	srv := NewServer(testUUID, ta, nil)
	path := filepath.Join(testkit.ShortDir(t), "id.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ta, srv, path
}

// TestLoginIdentity: the host derives the session's identity from the
// kernel's credentials of the connecting process and the login method
// (docs/protocol.md §1.12), the TA sees the same identity at OpenSession
// and at every Invoke, and a login the host cannot vouch for is refused
// before the TA runs.
func TestLoginIdentity(t *testing.T) {
	ta, _, path := startIdentityServer(t)
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	userUUID, _ := ClientUUID(tee.LoginUser, uid, 0)
	groupUUID, _ := ClientUUID(tee.LoginGroup, 0, gid)
	notMine := uint32(0x7fff_fff0) // a gid no test process is a member of

	cases := []struct {
		name  string
		opts  []SessionOption
		want  ClientIdentity // zero UUID = PUBLIC
		code  tee.Result
		group uint32
	}{
		{name: "public", want: ClientIdentity{Login: tee.LoginPublic}},
		{name: "user", opts: []SessionOption{AsUser()}, want: ClientIdentity{Login: tee.LoginUser, UUID: userUUID}},
		{name: "own egid", opts: []SessionOption{AsGroup(gid)}, want: ClientIdentity{Login: tee.LoginGroup, Group: gid, UUID: groupUUID}},
		{name: "group not a member", opts: []SessionOption{AsGroup(notMine)}, code: tee.ResultAccessDenied},
		{name: "application", opts: []SessionOption{WithLogin(tee.LoginApplication, 0)}, code: tee.ResultNotSupported},
		{name: "user application", opts: []SessionOption{WithLogin(tee.LoginUserApplication, 0)}, code: tee.ResultNotSupported},
		{name: "group application", opts: []SessionOption{WithLogin(tee.LoginGroupApplication, 0)}, code: tee.ResultNotSupported},
		{name: "unknown method 3", opts: []SessionOption{WithLogin(3, 0)}, code: tee.ResultBadParameters},
		{name: "user with connection data", opts: []SessionOption{WithLogin(tee.LoginUser, 5)}, code: tee.ResultBadParameters},
		{name: "public with connection data", opts: []SessionOption{WithLogin(tee.LoginPublic, 1)}, code: tee.ResultBadParameters},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			c, err := Dial(ctx, path)
			require.NoError(t, err)
			defer c.Close()
			s, err := c.OpenSession(ctx, testUUID, nil, tc.opts...)
			if tc.code != tee.Success {
				te := teeErr(t, err)
				assert.Equal(t, tc.code, te.Code)
				assert.Equal(t, tee.OriginTEE, te.Origin)
				return
			}
			require.NoError(t, err)
			// A parameter cannot name another identity: the TA ignores
			// what the client sends and sees the kernel's.
			p := tee.Params{tee.Value(0, 0), tee.MemrefIn(notMineUUID[:])}
			require.NoError(t, s.Invoke(ctx, 1, &p))
			opened, seen := ta.last()
			want := tc.want
			want.PID, want.UID, want.GID = int32(os.Getpid()), uid, gid
			assert.Equal(t, want, opened)
			assert.Equal(t, want, seen, "every Invoke sees the session's identity")
		})
	}
}

var notMineUUID = tee.MustParseUUID("fc34275c-d8dd-5ba7-968b-504718363b87")

// TestLoginWithoutKernelCredentials: over a connection that is not a Unix
// socket the host has no credentials: PUBLIC works, USER and GROUP are
// refused with TEEC_ERROR_ACCESS_DENIED.
func TestLoginWithoutKernelCredentials(t *testing.T) {
	ta := &identityTA{}
	srv := NewServer(testUUID, ta, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	cliEnd, hostEnd := net.Pipe()
	c := srv.track(hostEnd)
	require.NotNil(t, c)
	go c.serve()
	cl := NewClient(cliEnd)
	defer cl.Close()
	ctx := testCtx(t)

	for _, opt := range []SessionOption{AsUser(), AsGroup(uint32(os.Getegid()))} {
		_, err := cl.OpenSession(ctx, testUUID, nil, opt)
		assert.Equal(t, tee.ResultAccessDenied, teeErr(t, err).Code)
	}
	s, err := cl.OpenSession(ctx, testUUID, nil)
	require.NoError(t, err)
	require.NoError(t, s.Invoke(ctx, 1, nil))
	_, seen := ta.last()
	assert.Equal(t, ClientIdentity{Login: tee.LoginPublic}, seen)
}
