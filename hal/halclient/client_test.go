package halclient

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
)

// scripted is a HAL that answers SetNotify with a fixed message sequence.
type scripted struct {
	halpb.UnimplementedBiometricsFingerprintServer
	msgs []*halpb.ClientCallback
	hold bool // keep the stream open after the script
}

func (s *scripted) SetNotify(_ *halpb.SetNotifyRequest, st grpc.ServerStreamingServer[halpb.ClientCallback]) error {
	for _, m := range s.msgs {
		if err := st.Send(m); err != nil {
			return err
		}
	}
	if s.hold {
		<-st.Context().Done()
	}
	return nil
}

func (s *scripted) Cancel(context.Context, *halpb.CancelRequest) (*halpb.RequestStatusResponse, error) {
	return &halpb.RequestStatusResponse{Status: halpb.RequestStatus_SYS_EBUSY}, nil
}

func (s *scripted) PreEnroll(context.Context, *halpb.PreEnrollRequest) (*halpb.PreEnrollResponse, error) {
	return &halpb.PreEnrollResponse{AuthChallenge: 77}, nil
}

func serve(t *testing.T, srv halpb.BiometricsFingerprintServer) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "halc")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "hal.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	g := grpc.NewServer()
	halpb.RegisterBiometricsFingerprintServer(g, srv)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	c, err := Dial(ctx(t), sock)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"unix:///tmp/x.sock", "unix:///tmp/x.sock"},
		{"unix:rel.sock", "unix:rel.sock"},
		{"/tmp/d/sock/hal.sock", "unix:///tmp/d/sock/hal.sock"},
	}
	for _, tt := range tests {
		got, err := Target(tt.in)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
	_, err := Target("")
	assert.Error(t, err)
}

func TestDialUnreachable(t *testing.T) {
	_, err := Dial(ctx(t), filepath.Join(t.TempDir(), "none.sock"))
	assert.ErrorIs(t, err, ErrUnreachable)
}

func TestUnaryValues(t *testing.T) {
	c := serve(t, &scripted{})
	st, err := c.Cancel(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, hidl.SysEBUSY, st)
	ch, err := c.PreEnroll(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, uint64(77), ch)
	// A method the HAL does not implement is a transport error, not a status.
	_, err = c.Enumerate(ctx(t))
	assert.Error(t, err)
}

func TestSetNotifyProtocol(t *testing.T) {
	errCB := &halpb.ClientCallback{DeviceId: 5, Callback: &halpb.ClientCallback_OnError{OnError: &halpb.OnError{Error: halpb.FingerprintError_ERROR_CANCELED}}}
	t.Run("first message not registered", func(t *testing.T) {
		c := serve(t, &scripted{msgs: []*halpb.ClientCallback{errCB}})
		_, err := c.SetNotify(ctx(t))
		assert.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("stream ends before registration", func(t *testing.T) {
		c := serve(t, &scripted{})
		_, err := c.SetNotify(ctx(t))
		assert.Error(t, err)
	})
	t.Run("empty callback", func(t *testing.T) {
		c := serve(t, &scripted{msgs: []*halpb.ClientCallback{halpb.Registered(5), errCB, {DeviceId: 5}}, hold: true})
		cbs, err := c.SetNotify(ctx(t))
		require.NoError(t, err)
		defer cbs.Close()
		assert.Equal(t, uint64(5), cbs.DeviceID)
		cb, err := cbs.Next(ctx(t))
		require.NoError(t, err)
		assert.Equal(t, hidl.OnError{DeviceID: 5, Error: hidl.ErrorCanceled}, cb)
		_, err = cbs.Next(ctx(t))
		assert.ErrorIs(t, err, ErrStreamEnded)
		assert.ErrorIs(t, cbs.Err(), ErrProtocol)
	})
	t.Run("clean end drains queue", func(t *testing.T) {
		c := serve(t, &scripted{msgs: []*halpb.ClientCallback{halpb.Registered(5), errCB, errCB}})
		cbs, err := c.SetNotify(ctx(t))
		require.NoError(t, err)
		<-cbs.Done()
		var got []hidl.Callback
		for cb := range cbs.C() {
			got = append(got, cb)
		}
		assert.Len(t, got, 2)
		assert.ErrorIs(t, cbs.Err(), ErrStreamEnded)
		_, err = cbs.Next(ctx(t))
		assert.ErrorIs(t, err, ErrStreamEnded)
	})
}

func TestWaitForAndClose(t *testing.T) {
	acq := &halpb.ClientCallback{DeviceId: 5, Callback: &halpb.ClientCallback_OnAcquired{OnAcquired: &halpb.OnAcquired{}}}
	rem := &halpb.ClientCallback{DeviceId: 5, Callback: &halpb.ClientCallback_OnRemoved{OnRemoved: &halpb.OnRemoved{GroupId: 99}}}
	c := serve(t, &scripted{msgs: []*halpb.ClientCallback{halpb.Registered(5), acq, acq, rem, acq}, hold: true})
	cbs, err := c.SetNotify(ctx(t))
	require.NoError(t, err)
	cb, skipped, err := cbs.WaitFor(ctx(t), func(cb hidl.Callback) bool { _, ok := cb.(hidl.OnRemoved); return ok })
	require.NoError(t, err)
	assert.Equal(t, hidl.OnRemoved{DeviceID: 5, GroupID: 99}, cb)
	assert.Len(t, skipped, 2)
	cbs.Close()
	cbs.Close() // idempotent
	// C is closed (the unread callback was discarded) and nothing hangs.
	for range cbs.C() {
	}
	assert.Error(t, cbs.Err())

	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	cbs2, err := c.SetNotify(ctx(t))
	require.NoError(t, err)
	defer cbs2.Close()
	for range 10 { // the script's 4 callbacks, then the deadline
		_, err = cbs2.Next(short)
		if err != nil {
			break
		}
	}
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
