package hal_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
	simdev "github.com/fpemu/fpemu/sim/device"
)

// streamEnded is the HAL's log line when it ends a client's callback
// stream for falling behind.
const streamEnded = "callback stream ended: client not reading"

// TestSlowCallbackReaderIsEnded: a client that registers a callback
// stream and stops reading is ended with RESOURCE_EXHAUSTED as soon as
// hal.DefaultSinkBuffer callbacks wait for it — by the HAL, before the
// client reads anything — and what it then reads is an unbroken prefix of
// the callbacks followed by that status: nothing was skipped while the
// stream was open. A client that keeps reading gets every callback.
func TestSlowCallbackReaderIsEnded(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a device and makes thousands of callbacks")
	}
	dev := bootDevice(t, simdev.RestartPolicy{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The slow client: its own connection, windows fixed at the HTTP/2
	// minimum (no BDP growth), reads notify_registered, then nothing.
	conn, err := grpc.NewClient("unix://"+dev.hal.SocketPath(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	require.NoError(t, err)
	defer conn.Close()
	sctx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	stream, err := halpb.NewBiometricsFingerprintClient(conn).SetNotify(sctx, &halpb.SetNotifyRequest{})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.True(t, halpb.IsRegistered(first))

	// Each cancel() makes exactly one onError(CANCELED) (protocol §10.6).
	made := 0
	for count(dev.logs.String(), "hal", streamEnded) == 0 {
		require.Less(t, made, 40000, "the HAL never ended the stream of a client that reads nothing")
		cancels(t, ctx, dev, 256)
		made += 256
	}
	t.Logf("stream ended after %d callbacks", made)
	require.Greater(t, made, hal.DefaultSinkBuffer)

	got := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			require.NotErrorIs(t, err, io.EOF, "the stream must not end OK")
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
			break
		}
		cb, err := halpb.ToCallback(m)
		require.NoError(t, err)
		e, ok := cb.(hidl.OnError)
		require.True(t, ok, "callback %d is %T", got, cb)
		require.Equal(t, hidl.ErrorCanceled, e.Error)
		got++
	}
	assert.Less(t, got, made, "the HAL held no unbounded backlog")

	// Control: a client that reads keeps its stream and every callback.
	cbs, err := dev.client.SetNotify(ctx)
	require.NoError(t, err)
	defer cbs.Close()
	const n = 2 * hal.DefaultSinkBuffer
	done := make(chan int)
	go func() {
		k := 0
		for k < n {
			cb, err := cbs.Next(ctx)
			if err != nil {
				break
			}
			if _, ok := cb.(hidl.OnError); ok {
				k++
			}
		}
		done <- k
	}()
	cancels(t, ctx, dev, n)
	select {
	case k := <-done:
		assert.Equal(t, n, k)
	case <-time.After(20 * time.Second):
		t.Fatal("the reading client did not get every callback")
	}
	assert.NoError(t, cbs.Err())
	assert.Equal(t, 1, strings.Count(dev.logs.String(), streamEnded))
}

// cancels calls cancel() n times, from 4 goroutines: each call makes one
// onError(ERROR_CANCELED).
func cancels(t *testing.T, ctx context.Context, dev *device, n int) {
	t.Helper()
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				st, err := dev.client.Cancel(ctx)
				if err == nil && st != hidl.SysOK {
					err = fmt.Errorf("cancel: %v", st)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
}
