package hal

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// pumpReady waits until the pump has made its start-up relay and waits
// for events, so that what a test puts in the outbox afterwards is relayed
// only by the operation the test ends.
func (r *rig) pumpReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.ta.mu.Lock()
		defer r.ta.mu.Unlock()
		return r.ta.waits > 0
	}, testWait, time.Millisecond)
}

// putOutbox queues sealed reports in the fake TA's outbox.
func (r *rig) putOutbox(envs ...string) {
	r.ta.mu.Lock()
	defer r.ta.mu.Unlock()
	for _, e := range envs {
		r.ta.outbox = append(r.ta.outbox, []byte(e))
	}
}

func sinkNext(t *testing.T, s *Sink) hidl.Callback {
	t.Helper()
	select {
	case cb := <-s.C():
		return cb
	case <-time.After(testWait):
		t.Fatal("no callback")
		return nil
	}
}

// TestRelayOrder: the HAL relays the bio outbox to the payment TA before
// the callback that ends an operation with a report the payment side
// needs (a match, the last enroll step, the last removal: QSEE's
// bio_set_auth_result is synchronous in the TEE), and after the other
// endings. The relay records, at each DELIVER, how many callbacks the
// client had been given by then.
func TestRelayOrder(t *testing.T) {
	hat := make([]byte, hidl.HATSize)
	tests := []struct {
		name   string
		end    func(t *testing.T, r *rig)
		want   func(id uint64) hidl.Callback // the callback, for device id
		before bool
	}{
		{
			"match: before onAuthenticated",
			func(t *testing.T, r *rig) {
				r.putOutbox("auth-result")
				r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 3, GroupID: 99, HAT: hat})
			},
			func(id uint64) hidl.Callback {
				return hidl.OnAuthenticated{DeviceID: id, FingerID: 3, GroupID: 99, Token: hat}
			}, true,
		},
		{
			"enrollment: before onEnrollResult(remaining 0)",
			func(t *testing.T, r *rig) {
				r.putOutbox("finger-list")
				r.ta.finish(fpproto.Event{Type: fpproto.MsgTemplateEnrolling, FingerID: 3, GroupID: 99})
			},
			func(id uint64) hidl.Callback { return hidl.OnEnrollResult{DeviceID: id, FingerID: 3, GroupID: 99} }, true,
		},
		{
			// The TA queues TEMPLATE_REMOVED, then the finger list: the
			// HAL waits for REMOVE to return before it relays.
			"removal: before onRemoved(remaining 0), list queued after the event",
			func(t *testing.T, r *rig) {
				r.ta.mu.Lock()
				r.ta.removeReport = []byte("finger-list")
				r.ta.mu.Unlock()
				require.Equal(t, hidl.SysOK, r.hal.Remove(ctxT(t), 99, 3))
			},
			func(id uint64) hidl.Callback { return hidl.OnRemoved{DeviceID: id, FingerID: 3, GroupID: 99} }, true,
		},
		{
			"error: after onError",
			func(t *testing.T, r *rig) {
				r.putOutbox("auth-failure")
				r.ta.finish(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorLockout})
			},
			func(id uint64) hidl.Callback { return hidl.OnError{DeviceID: id, Error: hidl.ErrorLockout} }, false,
		},
		{
			"enumeration: after onEnumerate(remaining 0)",
			func(t *testing.T, r *rig) {
				r.putOutbox("finger-list")
				r.ta.finish(fpproto.Event{Type: fpproto.MsgTemplateEnumerating, FingerID: 3, GroupID: 99})
			},
			func(id uint64) hidl.Callback { return hidl.OnEnumerate{DeviceID: id, FingerID: 3, GroupID: 99} }, false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			sink := NewSink(0)
			r.hal.SetNotify(sink)
			r.pumpReady(t)
			var mu sync.Mutex
			var seen []int // callbacks queued for the client at each DELIVER
			r.relay.mu.Lock()
			r.relay.onDeliver = func([]byte) {
				mu.Lock()
				seen = append(seen, len(sink.C()))
				mu.Unlock()
			}
			r.relay.mu.Unlock()

			tt.end(t, r)
			// The callback is read only after the DELIVER, so that the
			// count the relay saw is what the client had been given.
			require.Eventually(t, func() bool { return len(r.relay.got()) == 1 }, testWait, time.Millisecond)
			mu.Lock()
			got := append([]int(nil), seen...)
			mu.Unlock()
			if tt.before {
				assert.Equal(t, []int{0}, got, "the report reached the payment TA before the callback")
			} else {
				assert.Equal(t, []int{1}, got, "the report reached the payment TA after the callback")
			}
			assert.Equal(t, tt.want(r.hal.DeviceID()), sinkNext(t, sink))
		})
	}
}

// TestRelayFailureKeepsCallback: whatever goes wrong with the relay before
// onAuthenticated, the client still gets exactly its onAuthenticated, and
// the HAL logs why the report did not go through, naming the relay.
func TestRelayFailureKeepsCallback(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
		log   string // the message that says why
		kept  int    // envelopes the HAL keeps for the next relay
		inbox int    // envelopes left in the TA's outbox
	}{
		{"no payment TA", func(r *rig) { r.relay.down = true },
			"no payment TA: bio envelopes stay in the fingerprint TA's outbox", 0, 1},
		{"payment TA unreachable", func(r *rig) { r.relay.openErr = errors.New("dial: connection refused") },
			"payment TA unreachable; bio envelopes stay queued", 0, 1},
		{"payment TA refuses the envelope", func(r *rig) { r.relay.refuse = true },
			"payment TA refused a bio envelope; dropped", 0, 0},
		{"payment TA dies", func(r *rig) { r.relay.dead = true },
			"bio envelope not delivered; kept for the next relay", 1, 0},
		{"payment TA does not answer", func(r *rig) { r.relay.hang = true },
			"bio envelope not delivered; kept for the next relay", 1, 0},
		{"FETCH_OUTBOX fails", func(r *rig) {
			r.ta.fetchErr = tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "malformed batch")
		}, "FETCH_OUTBOX failed", 0, 1},
	}
	hat := make([]byte, hidl.HATSize)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.RelayTimeout = 100 * time.Millisecond })
			cbs := r.notify()
			r.pumpReady(t)
			r.relay.mu.Lock()
			r.ta.mu.Lock()
			tt.setup(r)
			r.ta.mu.Unlock()
			r.relay.mu.Unlock()
			r.putOutbox("auth-result")
			r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 3, GroupID: 99, HAT: hat})

			want := hidl.OnAuthenticated{DeviceID: cbs.DeviceID, FingerID: 3, GroupID: 99, Token: hat}
			assert.Equal(t, want, next(t, cbs))
			logs := r.logs.FilterMessage(tt.log).All()
			require.Len(t, logs, 1, "the HAL says why the report did not go through")
			assert.Equal(t, "before "+want.String(), logs[0].ContextMap()["relay"])
			assert.Empty(t, r.relay.got())
			r.hal.mu.Lock()
			assert.Len(t, r.hal.pending, tt.kept)
			r.hal.mu.Unlock()
			r.ta.mu.Lock()
			assert.Len(t, r.ta.outbox, tt.inbox)
			r.ta.mu.Unlock()
			assert.Zero(t, r.logs.FilterMessage("fingerprint TA lost").Len())
		})
	}
}

// TestTADiesWhileRelaying: a fingerprint TA that dies during the
// FETCH_OUTBOX before onAuthenticated has still matched: the client gets
// that onAuthenticated, no onError(HW_UNAVAILABLE) (the operation ended),
// and the HAL drops the connection.
func TestTADiesWhileRelaying(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	r.pumpReady(t)
	r.ta.mu.Lock()
	r.ta.fetchErr = tee.Errorf(tee.ResultTargetDead, tee.OriginComms, "fake TA dead")
	r.ta.mu.Unlock()
	hat := make([]byte, hidl.HATSize)
	r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 3, GroupID: 99, HAT: hat})
	assert.Equal(t, hidl.OnAuthenticated{DeviceID: cbs.DeviceID, FingerID: 3, GroupID: 99, Token: hat}, next(t, cbs))
	require.Eventually(t, func() bool { return r.logs.FilterMessage("fingerprint TA lost").Len() == 1 }, testWait, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cbs.Next(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "no onError after the operation ended")
	assert.Equal(t, hidl.SysEIO, must(r.client.Cancel(ctxT(t)))(t), "the TA connection was dropped")
}

// TestRelayKeepsOneSession: the HAL keeps one session on the payment TA
// from one relay to the next instead of opening one per relay; a kept
// session the payment TA no longer serves (TARGET_DEAD) is replaced and the
// envelope retried, at most once per relay; a session that failed is
// closed, and Close closes the kept one.
func TestRelayKeepsOneSession(t *testing.T) {
	hat := make([]byte, hidl.HATSize)
	tests := []struct {
		name      string
		setup     func(r *fakeRelay) // before each of the matches
		matches   int
		delivered int
		opens     int // sessions opened, the pump's start-up relay included
		closes    int // before Close
		kept      int // envelopes the HAL still keeps
	}{
		{"kept across relays", func(*fakeRelay) {}, 3, 3, 1, 0, 0},
		{"payment TA restarted: reopened once, envelope retried", func(f *fakeRelay) { f.deadOnce = true }, 2, 2, 3, 2, 0},
		// Two sessions per relay at most: the kept one and one retry.
		{"payment TA keeps dying: one reopen per relay", func(f *fakeRelay) { f.dead = true }, 2, 0, 4, 4, 1},
		{"payment TA does not answer: session closed", func(f *fakeRelay) { f.hang = true }, 1, 0, 1, 1, 1},
		// Seen before FETCH_OUTBOX: the report stays in the TA's outbox.
		{"payment TA gone since the last relay", func(f *fakeRelay) { f.down = true }, 1, 0, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.RelayTimeout = 100 * time.Millisecond })
			cbs := r.notify()
			r.pumpReady(t)
			for i := range tt.matches {
				r.relay.mu.Lock()
				tt.setup(r.relay)
				r.relay.mu.Unlock()
				r.putOutbox("auth-result")
				r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: uint32(i + 1), GroupID: 99, HAT: hat})
				cb := next(t, cbs)
				require.IsType(t, hidl.OnAuthenticated{}, cb)
			}
			assert.Len(t, r.relay.got(), tt.delivered)
			opens, closes := r.relay.sessions()
			assert.Equal(t, tt.opens, opens, "sessions opened")
			assert.Equal(t, tt.closes, closes, "sessions closed before Close")
			r.hal.mu.Lock()
			assert.Len(t, r.hal.pending, tt.kept)
			r.hal.mu.Unlock()

			require.NoError(t, r.hal.Close())
			opens, closes = r.relay.sessions()
			assert.Equal(t, opens, closes, "Close closes the kept session: none left open")
		})
	}
}
