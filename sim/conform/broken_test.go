package conform

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tokens"
)

// proxy is a HAL test double: it serves the north API and forwards every
// call to the real fpemu HAL, except where a broken behaviour overrides it.
type proxy struct {
	halpb.UnimplementedBiometricsFingerprintServer
	up halpb.BiometricsFingerprintClient

	mu        sync.Mutex
	challenge uint64 // the outstanding preEnroll value as the proxy saw it

	// cred, if set, is the Gatekeeper user the double mints HATs of; the
	// conform run enrolls with the same user (Config.credential), so the
	// TA's one-SID-per-group rule cannot mask the double's defect.
	cred *credential

	// Broken behaviours.
	enroll     func(ctx context.Context, r *halpb.EnrollRequest) *halpb.EnrollRequest
	preEnroll  func(ctx context.Context) (uint64, error)
	postEnroll func()
	authID     func(real uint64) uint64
}

func (p *proxy) SetNotify(r *halpb.SetNotifyRequest, stream grpc.ServerStreamingServer[halpb.ClientCallback]) error {
	up, err := p.up.SetNotify(stream.Context(), r)
	if err != nil {
		return err
	}
	for {
		m, err := up.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

func (p *proxy) PreEnroll(ctx context.Context, r *halpb.PreEnrollRequest) (*halpb.PreEnrollResponse, error) {
	if p.preEnroll != nil {
		c, err := p.preEnroll(ctx)
		return &halpb.PreEnrollResponse{AuthChallenge: c}, err
	}
	rsp, err := p.up.PreEnroll(ctx, r)
	if err == nil {
		p.mu.Lock()
		p.challenge = rsp.GetAuthChallenge()
		p.mu.Unlock()
	}
	return rsp, err
}

func (p *proxy) Enroll(ctx context.Context, r *halpb.EnrollRequest) (*halpb.RequestStatusResponse, error) {
	if p.enroll != nil {
		r = p.enroll(ctx, r)
	}
	return p.up.Enroll(ctx, r)
}

func (p *proxy) PostEnroll(ctx context.Context, r *halpb.PostEnrollRequest) (*halpb.RequestStatusResponse, error) {
	p.mu.Lock()
	p.challenge = 0
	p.mu.Unlock()
	if p.postEnroll != nil {
		p.postEnroll()
	}
	return p.up.PostEnroll(ctx, r)
}

func (p *proxy) GetAuthenticatorId(ctx context.Context, r *halpb.GetAuthenticatorIdRequest) (*halpb.GetAuthenticatorIdResponse, error) { //nolint:revive // generated name
	rsp, err := p.up.GetAuthenticatorId(ctx, r)
	if err == nil && p.authID != nil {
		rsp = &halpb.GetAuthenticatorIdResponse{AuthenticatorId: p.authID(rsp.GetAuthenticatorId())}
	}
	return rsp, err
}

func (p *proxy) Cancel(ctx context.Context, r *halpb.CancelRequest) (*halpb.RequestStatusResponse, error) {
	return p.up.Cancel(ctx, r)
}

func (p *proxy) Enumerate(ctx context.Context, r *halpb.EnumerateRequest) (*halpb.RequestStatusResponse, error) {
	return p.up.Enumerate(ctx, r)
}

func (p *proxy) Remove(ctx context.Context, r *halpb.RemoveRequest) (*halpb.RequestStatusResponse, error) {
	return p.up.Remove(ctx, r)
}

func (p *proxy) SetActiveGroup(ctx context.Context, r *halpb.SetActiveGroupRequest) (*halpb.RequestStatusResponse, error) {
	return p.up.SetActiveGroup(ctx, r)
}

func (p *proxy) Authenticate(ctx context.Context, r *halpb.AuthenticateRequest) (*halpb.RequestStatusResponse, error) {
	return p.up.Authenticate(ctx, r)
}

// serveProxy serves p, forwarding to the HAL at upstream, on a new socket
// and returns its path.
func serveProxy(t *testing.T, upstream string, p *proxy) string {
	t.Helper()
	target, err := halclient.Target(upstream)
	require.NoError(t, err)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	p.up = halpb.NewBiometricsFingerprintClient(conn)
	sock := filepath.Join(testkit.ShortDir(t), "hal.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	halpb.RegisterBiometricsFingerprintServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		conn.Close()
	})
	return sock
}

// acceptsAnyHAT is a HAL that does not check the enroll HAT: whatever it is
// given, it enrolls. It stands in a genuine PASSWORD HAT for its own
// Gatekeeper user when the HAT given is not one for the outstanding
// challenge, and — like legacy HALs that ignore it — enrolls for 60 s
// whatever timeoutSec says.
func acceptsAnyHAT(t *testing.T, d *Device) *proxy {
	ctx := testCtx(t, 10*time.Second)
	own, err := openCredential(ctx, d.Target().Gatekeeper, GatekeeperUID)
	require.NoError(t, err)
	t.Cleanup(func() { _ = own.Close(context.Background()) })
	p := &proxy{cred: own}
	p.enroll = func(ctx context.Context, r *halpb.EnrollRequest) *halpb.EnrollRequest {
		p.mu.Lock()
		c := p.challenge
		p.mu.Unlock()
		if tok, err := tokens.Parse(r.GetHat()); err == nil && c != 0 && tok.Challenge == c && tok.AuthenticatorType&tokens.AuthPassword != 0 {
			return r
		}
		if c == 0 {
			rsp, err := p.up.PreEnroll(ctx, &halpb.PreEnrollRequest{})
			if err != nil {
				return r
			}
			c = rsp.GetAuthChallenge()
			p.mu.Lock()
			p.challenge = c
			p.mu.Unlock()
		}
		tok, err := own.HAT(ctx, c)
		if err != nil {
			return r
		}
		return &halpb.EnrollRequest{Hat: tok.Marshal(), Gid: r.GetGid(), TimeoutSec: EnrollTimeoutSec}
	}
	return p
}

// freezesAuthenticatorID is a HAL that draws its authenticator id once: from
// the first non-zero value on, getAuthenticatorId() never changes.
func freezesAuthenticatorID(*testing.T, *Device) *proxy {
	var mu sync.Mutex
	var frozen uint64
	return &proxy{authID: func(real uint64) uint64 {
		mu.Lock()
		defer mu.Unlock()
		if frozen == 0 {
			frozen = real
		}
		return frozen
	}}
}

// repeatsPreEnroll is a HAL that hands out the same challenge until
// postEnroll instead of drawing a new one each time.
func repeatsPreEnroll(*testing.T, *Device) *proxy {
	var mu sync.Mutex
	var cached uint64
	p := &proxy{}
	p.preEnroll = func(ctx context.Context) (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached != 0 {
			return cached, nil
		}
		rsp, err := p.up.PreEnroll(ctx, &halpb.PreEnrollRequest{})
		if err != nil {
			return 0, err
		}
		cached = rsp.GetAuthChallenge()
		return cached, nil
	}
	p.postEnroll = func() {
		mu.Lock()
		cached = 0
		mu.Unlock()
	}
	return p
}

// TestBrokenHALFailsTheRightCases runs the suite through HAL doubles that
// wrap fpemu's HAL with one defect each, and checks the exact set of cases
// that fail. (The 30 s lockout expiry is left out: no double touches
// lockout.)
func TestBrokenHALFailsTheRightCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		double func(*testing.T, *Device) *proxy
		fail   []string
	}{
		{"accepts any HAT", acceptsAnyHAT, []string{
			"vts/EnrollInvalidHatTest",
			"vts/EnrollNullTest",
			"fpemu/EnrollReplayedHatTest",
			"fpemu/EnrollRevokedChallengeHatTest",
			"fpemu/EnrollWrongChallengeHatTest",
			"fpemu/EnrollFingerprintHatTest",
		}},
		{"never changes authenticator_id", freezesAuthenticatorID, []string{
			"fpemu/AuthenticateTest",
			"fpemu/AuthenticateKeymasterTest",
			"fpemu/AuthenticatorIdEmptyTest",
			"fpemu/AuthenticatorIdEnrollTest",
			"fpemu/AuthenticatorIdRemoveTest",
		}},
		{"duplicate preEnroll values", repeatsPreEnroll, []string{
			"vts/PreEnrollTest",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startDevice(t)
			target := d.Target()
			p := tc.double(t, d)
			target.HAL = serveProxy(t, target.HAL, p)
			rep := runWith(t, Config{Target: target, Skip: regexp.MustCompile("LockoutExpiry"), credential: p.cred})
			assert.Equal(t, tc.fail, rep.Names(Fail))
			assert.Equal(t, []string{"fpemu/LockoutExpiryTest"}, rep.Names(Skip), "deselected by Skip")
			assert.False(t, rep.OK())
			checkJUnit(t, rep)
		})
	}
}
