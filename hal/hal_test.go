package hal

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/hal/vts"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

const testWait = 3 * time.Second // VTS kTimeout

type rig struct {
	t      testing.TB
	ta     *fakeTA
	relay  *fakeRelay
	hal    *HAL
	client *halclient.Client
	logs   *observer.ObservedLogs
	// connects counts ConnectTA calls; next, when set, is returned by the
	// next one.
	connects int
	next     *fakeTA
}

// newRig opens a HAL over a fake TA and serves it over gRPC on a Unix
// socket, with a client dialled to it. opts adjust the HAL's Config.
func newRig(t testing.TB, opts ...func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, ta: newFakeTA(), relay: &fakeRelay{}}
	core, logs := observer.New(zap.DebugLevel)
	r.logs = logs
	cfg := Config{
		ConnectTA: func(context.Context) (TA, error) {
			r.connects++
			if r.connects > 1 {
				if r.next == nil {
					return nil, tee.Errorf(tee.ResultTargetDead, tee.OriginComms, "no TA")
				}
				r.ta = r.next
				r.next = nil
			}
			return r.ta, nil
		},
		AuthTokenKey: func(context.Context) ([]byte, error) { return []byte("sealed-envelope"), nil },
		Payment:      r.relay.open,
		Log:          zap.New(core),
		EventWait:    50 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	r.hal = h
	dir, err := os.MkdirTemp("", "hal")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "hal.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := NewGRPCServer(h)
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := halclient.Dial(ctx, sock)
	require.NoError(t, err)
	r.client = c
	t.Cleanup(func() {
		c.Close()
		srv.Stop()
		require.NoError(t, h.Close())
	})
	return r
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func (r *rig) notify() *halclient.Callbacks {
	cbs, err := r.client.SetNotify(ctxT(r.t))
	require.NoError(r.t, err)
	r.t.Cleanup(cbs.Close)
	return cbs
}

func next(t *testing.T, cbs *halclient.Callbacks) hidl.Callback {
	t.Helper()
	cb, err := cbs.Next(ctxT(t))
	require.NoError(t, err)
	return cb
}

func TestOpenRelaysKey(t *testing.T) {
	r := newRig(t)
	assert.Equal(t, []byte("sealed-envelope"), r.ta.key)
	assert.Equal(t, "setAuthTokenKey", r.ta.callList()[0])
	assert.NotZero(t, r.hal.DeviceID())
}

func TestOpenFails(t *testing.T) {
	ta := newFakeTA()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no TA", Config{
			ConnectTA:    func(context.Context) (TA, error) { return nil, tee.ErrTargetDead },
			AuthTokenKey: func(context.Context) ([]byte, error) { return nil, nil },
		}},
		{"no keymaster", Config{
			ConnectTA:    func(context.Context) (TA, error) { return ta, nil },
			AuthTokenKey: func(context.Context) ([]byte, error) { return nil, tee.ErrTargetDead },
		}},
		{"missing config", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Open(context.Background(), tt.cfg)
			require.Error(t, err)
			assert.Nil(t, h)
		})
	}
}

func TestSetNotify(t *testing.T) {
	r := newRig(t)
	a := r.notify()
	assert.Equal(t, r.hal.DeviceID(), a.DeviceID)
	b := r.notify()
	assert.Equal(t, a.DeviceID, b.DeviceID)
	// The first callback was replaced: its stream ends with ABORTED.
	_, err := a.Next(ctxT(t))
	require.ErrorIs(t, err, halclient.ErrStreamEnded)
	assert.Contains(t, a.Err().Error(), "Aborted")

	// Callbacks go to the latest one, with the deviceId.
	require.Equal(t, hidl.SysOK, must(r.client.Cancel(ctxT(t)))(t))
	assert.Equal(t, hidl.OnError{DeviceID: b.DeviceID, Error: hidl.ErrorCanceled}, next(t, b))
}

// must checks a (value, error) call: must(c.Cancel(ctx))(t)(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		require.NoError(t, err)
		return v
	}
}

// TestNullNotify: setNotify(null) (a closed stream) still returns the
// deviceId and the HAL keeps working, dropping callbacks.
func TestNullNotify(t *testing.T) {
	r := newRig(t)
	a := r.notify()
	a.Close()
	require.Eventually(t, func() bool {
		r.hal.mu.Lock()
		defer r.hal.mu.Unlock()
		return r.hal.sink == nil
	}, testWait, time.Millisecond)
	require.Equal(t, hidl.SysOK, must(r.client.Cancel(ctxT(t)))(t))
	require.Eventually(t, func() bool { return r.logs.FilterMessage("callback dropped: no client callback registered").Len() == 1 }, testWait, time.Millisecond)
	b := r.notify()
	assert.NotZero(t, b.DeviceID)
}

func TestCancelFromIdle(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	require.Equal(t, hidl.SysOK, must(r.client.Cancel(ctxT(t)))(t))
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, next(t, cbs))
}

func TestEnrollInvalidHAT(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	require.Equal(t, hidl.SysOK, must(r.client.Enroll(ctxT(t), make([]byte, hidl.HATSize), 99, 3))(t))
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorUnableToProcess, VendorCode: int32(fpproto.ReasonHATMAC)}, next(t, cbs),
		"the TA's reason reaches the client as vendorCode")
}

func TestEnrollHATLength(t *testing.T) {
	r := newRig(t)
	for _, n := range []int{0, 68, 70} {
		_, err := r.client.Enroll(ctxT(t), make([]byte, n), 99, 3)
		require.Error(t, err, "hat of %d bytes", n)
		assert.Contains(t, err.Error(), "InvalidArgument")
		assert.Equal(t, hidl.SysEINVAL, r.hal.Enroll(ctxT(t), make([]byte, n), 99, 3))
	}
	assert.NotContains(t, r.ta.callList(), "enroll")
}

// TestNewOpCancelsRunning: authenticate while enrolling cancels the
// enrollment first (onError(CANCELED)), then authenticates.
func TestNewOpCancelsRunning(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	require.Equal(t, hidl.SysOK, must(r.client.Enroll(ctxT(t), []byte(string(make([]byte, 68))+"x"), 99, 60))(t))
	require.Equal(t, hidl.SysOK, must(r.client.Authenticate(ctxT(t), 42, 99))(t))
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, next(t, cbs))
	var calls []string
	for _, c := range r.ta.callList() {
		if c != "fetchOutbox" { // the pump's, concurrent
			calls = append(calls, c)
		}
	}
	assert.Equal(t, []string{"setAuthTokenKey", "enroll", "authenticate", "cancel", "authenticate"}, calls)
	r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 3, GroupID: 99, HAT: make([]byte, 69)})
	assert.Equal(t, hidl.OnAuthenticated{DeviceID: cbs.DeviceID, FingerID: 3, GroupID: 99, Token: make([]byte, 69)}, next(t, cbs))
}

// TestNewOpBusyForever: a TA that stays busy after the cancel leaves the new
// operation at SYS_EBUSY after PreemptTimeout, never a hang.
func TestNewOpBusyForever(t *testing.T) {
	r := newRig(t)
	r.hal.cfg.PreemptTimeout = 50 * time.Millisecond
	r.ta.mu.Lock()
	r.ta.busyAll = true
	r.ta.mu.Unlock()
	cbs := r.notify()
	assert.Equal(t, hidl.SysEBUSY, must(r.client.Authenticate(ctxT(t), 1, 99))(t))
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, next(t, cbs))
}

func TestCallbacksConverted(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	id := cbs.DeviceID
	hat := make([]byte, 69)
	hat[1] = 9
	r.ta.queue(
		fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredPartial},
		fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredVendor, VendorCode: 3},
		fpproto.Event{Type: fpproto.MsgAcquired, Acquired: 1004}, // a legacy vendor code
		fpproto.Event{Type: fpproto.MsgAcquired, Acquired: 6 + 40},
		fpproto.Event{Type: fpproto.MsgTemplateEnrolling, FingerID: 5, GroupID: 99, Remaining: 2},
		fpproto.Event{Type: fpproto.MsgAuthenticated, GroupID: 99},
		fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 5, GroupID: 99, HAT: hat},
		fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorVendor, VendorCode: 7},
		fpproto.Event{Type: fpproto.MsgError, Error: 1002},
		fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorLockout, Detail: 30000},
		fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorLockoutPermanent},
		fpproto.Event{Type: fpproto.MsgError, Error: 77},
		fpproto.Event{Type: fpproto.MsgTemplateRemoved, FingerID: 5, GroupID: 99, Remaining: 0},
		fpproto.Event{Type: fpproto.MsgTemplateEnumerating, FingerID: 0, GroupID: 99, Remaining: 0},
	)
	want := []hidl.Callback{
		hidl.OnAcquired{DeviceID: id, AcquiredInfo: hidl.AcquiredPartial},
		hidl.OnAcquired{DeviceID: id, AcquiredInfo: hidl.AcquiredVendor, VendorCode: 3},
		hidl.OnAcquired{DeviceID: id, AcquiredInfo: hidl.AcquiredVendor, VendorCode: 4},
		hidl.OnAcquired{DeviceID: id, AcquiredInfo: hidl.AcquiredInsufficient},
		hidl.OnEnrollResult{DeviceID: id, FingerID: 5, GroupID: 99, Remaining: 2},
		hidl.OnAuthenticated{DeviceID: id, GroupID: 99},
		hidl.OnAuthenticated{DeviceID: id, FingerID: 5, GroupID: 99, Token: hat},
		hidl.OnError{DeviceID: id, Error: hidl.ErrorVendor, VendorCode: 7},
		hidl.OnError{DeviceID: id, Error: hidl.ErrorVendor, VendorCode: 2},
		hidl.OnError{DeviceID: id, Error: hidl.ErrorLockout},
		hidl.OnError{DeviceID: id, Error: 9},
		hidl.OnError{DeviceID: id, Error: hidl.ErrorUnableToProcess},
		hidl.OnRemoved{DeviceID: id, GroupID: 99, FingerID: 5},
		hidl.OnEnumerate{DeviceID: id, GroupID: 99},
	}
	for i, w := range want {
		got := next(t, cbs)
		if ga, ok := got.(hidl.OnAuthenticated); ok && len(ga.Token) == 0 {
			ga.Token = nil
			got = ga
		}
		assert.Equal(t, w, got, "callback %d", i)
	}
}

// TestTADiesDuringOperation: the HAL reports onError(HW_UNAVAILABLE) for
// the running operation, answers SYS_EIO while the TA is gone, and
// reconnects (relaying the key again) once it is back.
func TestTADiesDuringOperation(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	require.Equal(t, hidl.SysOK, must(r.client.Authenticate(ctxT(t), 1, 99))(t))
	r.ta.kill()
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorHWUnavailable}, next(t, cbs))
	assert.Equal(t, hidl.SysEIO, must(r.client.Authenticate(ctxT(t), 1, 99))(t))
	assert.Zero(t, must(r.client.PreEnroll(ctxT(t)))(t))

	r.next = newFakeTA()
	assert.Equal(t, uint64(7), must(r.client.PreEnroll(ctxT(t)))(t))
	assert.Equal(t, []byte("sealed-envelope"), r.ta.key)
	require.Equal(t, hidl.SysOK, must(r.client.Cancel(ctxT(t)))(t))
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, next(t, cbs))
}

// TestTADiesIdle: no callback when nothing was running.
func TestTADiesIdle(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	r.ta.kill()
	require.Eventually(t, func() bool { return r.logs.FilterMessage("fingerprint TA lost").Len() == 1 }, testWait, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cbs.Next(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSetActiveGroupPath(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	require.NoError(t, os.Mkdir(ro, 0o500))
	tests := []struct {
		name string
		path string
		want hidl.RequestStatus
	}{
		{"writable", dir, hidl.SysOK},
		{"null", "", hidl.SysEINVAL},
		{"missing", filepath.Join(dir, "nope"), hidl.SysEINVAL},
		{"too long", "/" + string(make([]byte, PathMax)), hidl.SysEINVAL},
	}
	if os.Geteuid() != 0 {
		tests = append(tests, struct {
			name string
			path string
			want hidl.RequestStatus
		}{"unwritable", ro, hidl.SysEINVAL})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, must(r.client.SetActiveGroup(ctxT(t), 99, tt.path))(t))
		})
	}
}

func TestOutboxRelay(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	r.ta.mu.Lock()
	r.ta.outbox = [][]byte{[]byte("env-1"), []byte("env-2")}
	r.ta.mu.Unlock()
	// Not the end of an operation: nothing relayed yet.
	r.ta.queue(fpproto.Event{Type: fpproto.MsgAuthenticated, GroupID: 99})
	next(t, cbs)
	assert.Empty(t, r.relay.got())
	r.ta.finish(fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 1, GroupID: 99, HAT: make([]byte, 69)})
	next(t, cbs)
	require.Eventually(t, func() bool { return len(r.relay.got()) == 2 }, testWait, time.Millisecond)
	assert.Equal(t, [][]byte{[]byte("env-1"), []byte("env-2")}, r.relay.got())

	// Payment TA down: the outbox is not drained.
	r.relay.mu.Lock()
	r.relay.down = true
	r.relay.mu.Unlock()
	r.ta.mu.Lock()
	r.ta.outbox = [][]byte{[]byte("env-3")}
	r.ta.mu.Unlock()
	r.ta.finish(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorCanceled})
	next(t, cbs)
	r.ta.mu.Lock()
	left := len(r.ta.outbox)
	r.ta.mu.Unlock()
	assert.Equal(t, 1, left)

	// setActiveGroup (which queues a finger list in the TA) triggers a
	// relay without an operation.
	r.relay.mu.Lock()
	r.relay.down = false
	r.relay.mu.Unlock()
	require.Equal(t, hidl.SysOK, must(r.client.SetActiveGroup(ctxT(t), 99, t.TempDir()))(t))
	require.Eventually(t, func() bool { return len(r.relay.got()) == 3 }, testWait, time.Millisecond)
	assert.Equal(t, []byte("env-3"), r.relay.got()[2])
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want hidl.RequestStatus
	}{
		{nil, hidl.SysOK},
		{tee.ErrTargetDead, hidl.SysEIO},
		{tee.ErrCommunication, hidl.SysEIO},
		{tee.ErrBusy, hidl.SysEBUSY},
		{tee.ErrAccessDenied, hidl.SysEACCES},
		{&tee.Error{Code: tee.ResultOutOfMemory}, hidl.SysENOMEM},
		{tee.ErrBadParameters, hidl.SysEINVAL},
		{tee.ErrBadFormat, hidl.SysEINVAL},
		{context.DeadlineExceeded, hidl.SysETIMEDOUT},
		{context.Canceled, hidl.SysEINTR},
		{fpproto.ErrResponse, hidl.SysEIO},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, statusOf(tt.err), "%v", tt.err)
	}
}

func TestCloseEndsStream(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	require.NoError(t, r.hal.Close())
	_, err := cbs.Next(ctxT(t))
	require.ErrorIs(t, err, halclient.ErrStreamEnded)
	assert.Contains(t, cbs.Err().Error(), "Unavailable")
	assert.Equal(t, hidl.SysEIO, r.hal.Cancel(ctxT(t)))
}

// TestVTSOnFake runs the VTS 2.1 port against the HAL over the fake TA
// (which reports a non-zero authenticator id, as legacy HALs did).
func TestVTSOnFake(t *testing.T) {
	r := newRig(t)
	env := vts.Env{StorePath: t.TempDir()}
	for _, tc := range vts.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			require.NoError(t, vts.RunCase(ctxT(t), r.client, env, tc))
		})
	}
}

// TestVTSCatchesDefects: the VTS port fails the case a defect breaks (and
// only with ErrFailed, not a transport error).
func TestVTSCatchesDefects(t *testing.T) {
	cases := map[string]vts.Case{}
	for _, tc := range vts.Cases() {
		cases[tc.Name] = tc
	}
	tests := []struct {
		defect string
		set    func(f *fakeTA)
		fails  []string
	}{
		{"no CANCELED from idle", func(f *fakeTA) { f.noIdleCancel = true }, []string{"CancelTest", "CancelRemoveTest", "CancelRemoveAllTest"}},
		{"zero challenge", func(f *fakeTA) { f.zeroChallenge = true }, []string{"PreEnrollTest"}},
		{"accepts any HAT", func(f *fakeTA) { f.acceptAnyHAT = true }, []string{"EnrollInvalidHatTest", "EnrollNullTest"}},
		{"authenticator id 0", func(f *fakeTA) { f.authID = 0 }, []string{"GetAuthenticatorIdTest"}},
	}
	for _, tt := range tests {
		t.Run(tt.defect, func(t *testing.T) {
			r := newRig(t)
			r.ta.mu.Lock()
			tt.set(r.ta)
			r.ta.mu.Unlock()
			env := vts.Env{StorePath: t.TempDir(), Timeout: 200 * time.Millisecond}
			for _, name := range tt.fails {
				err := vts.RunCase(ctxT(t), r.client, env, cases[name])
				assert.ErrorIs(t, err, vts.ErrFailed, name)
				_, _ = r.client.Cancel(ctxT(t)) // end whatever the defect left running
			}
		})
	}
}

// BenchmarkCancelRoundTrip measures one cancel() over gRPC until its
// onError(CANCELED) callback arrives on the stream (fake TA).
func BenchmarkCancelRoundTrip(b *testing.B) {
	r := newRig(b)
	cbs, err := r.client.SetNotify(context.Background())
	require.NoError(b, err)
	defer cbs.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if st, err := r.client.Cancel(ctx); err != nil || st != hidl.SysOK {
			b.Fatal(st, err)
		}
		if _, err := cbs.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOutboxRelayFailures: an envelope the payment TA refuses is dropped;
// one it could not take because it died is kept and delivered first next
// time, in order.
func TestOutboxRelayFailures(t *testing.T) {
	r := newRig(t)
	cbs := r.notify()
	set := func(f func(*fakeRelay)) {
		r.relay.mu.Lock()
		f(r.relay)
		r.relay.mu.Unlock()
	}
	end := func(envs ...string) {
		r.ta.mu.Lock()
		for _, e := range envs {
			r.ta.outbox = append(r.ta.outbox, []byte(e))
		}
		r.ta.mu.Unlock()
		r.ta.finish(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorCanceled})
		next(t, cbs)
	}
	set(func(f *fakeRelay) { f.refuse = true })
	end("refused")
	require.Eventually(t, func() bool { return r.logs.FilterMessage("payment TA refused a bio envelope; dropped").Len() == 1 }, testWait, time.Millisecond)

	set(func(f *fakeRelay) { f.refuse, f.dead = false, true })
	end("kept-1", "kept-2")
	require.Eventually(t, func() bool {
		return r.logs.FilterMessage("bio envelope not delivered; kept for the next relay").Len() == 1
	}, testWait, time.Millisecond)
	assert.Empty(t, r.relay.got())

	set(func(f *fakeRelay) { f.dead = false })
	end("new")
	require.Eventually(t, func() bool { return len(r.relay.got()) == 3 }, testWait, time.Millisecond)
	assert.Equal(t, [][]byte{[]byte("kept-1"), []byte("kept-2"), []byte("new")}, r.relay.got())
}
