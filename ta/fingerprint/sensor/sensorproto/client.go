package sensorproto

import (
	"context"
	"time"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Client drives a sensor-control endpoint over any rpc.Invoker (a session
// on DEVICE_DIR/sock/fingerprint-sensor.sock, or an in-process one). Each
// method is one command; errors carry a *tee.Error.
type Client struct {
	Invoker rpc.Invoker
}

// Present queues a sample: a finger on the sensor.
func (c Client) Present(ctx context.Context, s Sample) error {
	b, err := MarshalSample(s)
	if err != nil {
		return err
	}
	return c.PresentRaw(ctx, b)
}

// PresentRaw queues an encoded sample as is (for testing the TA's parser).
func (c Client) PresentRaw(ctx context.Context, sample []byte) error {
	p := tee.Params{tee.MemrefIn(sample)}
	return c.Invoker.Invoke(ctx, uint32(CmdPresent), &p)
}

// Acquired queues an acquisition message (FingerprintAcquiredInfo; vendor
// code with ACQUIRED_VENDOR).
func (c Client) Acquired(ctx context.Context, info, vendor int32) error {
	p := tee.Params{tee.Value(uint32(info), uint32(vendor))}
	return c.Invoker.Invoke(ctx, uint32(CmdAcquired), &p)
}

// NoFinger queues a capture that times out (ERROR_TIMEOUT).
func (c Client) NoFinger(ctx context.Context) error {
	return c.Invoker.Invoke(ctx, uint32(CmdNoFinger), &tee.Params{})
}

// Fault queues a one-shot fault (FingerprintError; vendor code with
// ERROR_VENDOR).
func (c Client) Fault(ctx context.Context, code, vendor int32) error {
	p := tee.Params{tee.Value(uint32(code), uint32(vendor))}
	return c.Invoker.Invoke(ctx, uint32(CmdFault), &p)
}

// SetFault makes every capture fail until ClearFault.
func (c Client) SetFault(ctx context.Context, code, vendor int32) error {
	p := tee.Params{tee.Value(uint32(code), uint32(vendor))}
	return c.Invoker.Invoke(ctx, uint32(CmdSetFault), &p)
}

// ClearFault ends a sticky fault.
func (c Client) ClearFault(ctx context.Context) error {
	return c.SetFault(ctx, 0, 0)
}

// SetLatency sets the capture latency (whole milliseconds, ≤ MaxLatency).
func (c Client) SetLatency(ctx context.Context, d time.Duration) error {
	p := tee.Params{tee.Value(uint32(d/time.Millisecond), 0)}
	return c.Invoker.Invoke(ctx, uint32(CmdSetLatency), &p)
}

// Reset empties the queue and clears fault and latency.
func (c Client) Reset(ctx context.Context) error {
	return c.Invoker.Invoke(ctx, uint32(CmdReset), &tee.Params{})
}

// RemoteStatus is STATUS's answer.
type RemoteStatus struct {
	Queued, Waiting int
	Captures        uint64
	Latency         time.Duration
	FaultError      int32 // the sticky fault's error, 0 when none
}

// Status reads the sensor state.
func (c Client) Status(ctx context.Context) (RemoteStatus, error) {
	p := tee.Params{tee.ValueOut(), tee.ValueOut(), tee.ValueOut()}
	if err := c.Invoker.Invoke(ctx, uint32(CmdStatus), &p); err != nil {
		return RemoteStatus{}, err
	}
	return RemoteStatus{
		Queued:     int(p[0].A),
		Waiting:    int(p[0].B),
		Captures:   uint64(p[1].A) | uint64(p[1].B)<<32,
		Latency:    time.Duration(p[2].A) * time.Millisecond,
		FaultError: int32(p[2].B),
	}, nil
}

// WaitForCapture polls STATUS until at least n captures wait for an item
// (the TA is reading the sensor), or ctx ends.
func (c Client) WaitForCapture(ctx context.Context, n int) error {
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if st.Waiting >= n {
			return nil
		}
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
