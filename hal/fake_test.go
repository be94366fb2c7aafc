package hal

import (
	"context"
	"sync"
	"time"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// fakeTA is an in-memory fingerprint TA with the command semantics of
// docs/protocol.md: ENROLL/AUTHENTICATE start an operation (SYS_EBUSY while
// one runs), CANCEL always queues one ERROR_CANCELED, events come out of
// NEXT_EVENT in order. The test drives operations to their end with emit.
type fakeTA struct {
	mu        sync.Mutex
	events    []fpproto.Event
	wake      chan struct{}
	op        string // "", "enroll", "authenticate"
	dead      bool
	deadCh    chan struct{}
	key       []byte
	outbox    [][]byte
	calls     []string
	challenge uint64
	authID    uint64
	busyAll   bool // every start answers SYS_EBUSY (a TA that never lets go)
	// removeReport, when set, is queued in the outbox by REMOVE after its
	// TEMPLATE_REMOVED event and a pause, in the real TA's order (the
	// events, then the finger list, within the command).
	removeReport []byte
	fetchErr     error // FETCH_OUTBOX fails with it
	waits        int   // NEXT_EVENT calls (the pump is past its start-up relay once one came)
	// Deliberate defects, for showing that the VTS port catches them.
	noIdleCancel  bool // CANCEL from idle queues no ERROR_CANCELED
	zeroChallenge bool // PRE_ENROLL answers 0
	acceptAnyHAT  bool // ENROLL never fails on a bad HAT
}

func newFakeTA() *fakeTA {
	return &fakeTA{wake: make(chan struct{}, 1), deadCh: make(chan struct{}), challenge: 6, authID: 0x1234}
}

func (f *fakeTA) record(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if f.dead {
		return tee.Errorf(tee.ResultTargetDead, tee.OriginComms, "fake TA dead")
	}
	return nil
}

func (f *fakeTA) queue(es ...fpproto.Event) {
	f.mu.Lock()
	f.events = append(f.events, es...)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// finish ends the running operation with e (as the TA would).
func (f *fakeTA) finish(e fpproto.Event) {
	f.mu.Lock()
	f.op = ""
	f.mu.Unlock()
	f.queue(e)
}

func (f *fakeTA) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dead {
		f.dead = true
		close(f.deadCh)
	}
}

func (f *fakeTA) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeTA) start(op string) (hidl.RequestStatus, error) {
	if err := f.record(op); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.op != "" || f.busyAll {
		return hidl.SysEBUSY, nil
	}
	f.op = op
	return hidl.SysOK, nil
}

func (f *fakeTA) PreEnroll(context.Context) (uint64, error) {
	if err := f.record("preEnroll"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.zeroChallenge {
		return 0, nil
	}
	f.challenge++
	return f.challenge, nil
}

func (f *fakeTA) Enroll(_ context.Context, hat []byte, gid, _ uint32) (hidl.RequestStatus, error) {
	st, err := f.start("enroll")
	if err != nil || st != hidl.SysOK {
		return st, err
	}
	f.mu.Lock()
	anyHAT := f.acceptAnyHAT
	f.mu.Unlock()
	if hat[len(hat)-1] != 'x' && !anyHAT { // the fake's notion of a valid HAT

		f.finish(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess, Detail: uint32(fpproto.ReasonHATMAC)})
	}
	return st, nil
}

func (f *fakeTA) PostEnroll(context.Context) (hidl.RequestStatus, error) {
	return hidl.SysOK, f.record("postEnroll")
}

func (f *fakeTA) GetAuthenticatorID(context.Context) (uint64, error) {
	return f.authID, f.record("getAuthenticatorId")
}

func (f *fakeTA) Cancel(context.Context) (hidl.RequestStatus, error) {
	if err := f.record("cancel"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	idle, skip := f.op == "", f.noIdleCancel
	f.mu.Unlock()
	if idle && skip {
		return hidl.SysOK, nil
	}
	f.finish(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorCanceled})
	return hidl.SysOK, nil
}

func (f *fakeTA) Enumerate(context.Context) (hidl.RequestStatus, error) {
	st, err := f.start("enumerate")
	if err != nil || st != hidl.SysOK {
		return st, err
	}
	f.finish(fpproto.Event{Type: fpproto.MsgTemplateEnumerating, GroupID: 99})
	return st, nil
}

func (f *fakeTA) Remove(_ context.Context, gid, fid uint32) (hidl.RequestStatus, error) {
	st, err := f.start("remove")
	if err != nil || st != hidl.SysOK {
		return st, err
	}
	f.finish(fpproto.Event{Type: fpproto.MsgTemplateRemoved, GroupID: gid, FingerID: fid})
	f.mu.Lock()
	report := f.removeReport
	f.mu.Unlock()
	if report != nil {
		time.Sleep(20 * time.Millisecond) // the list is read and sealed after the events are queued
		f.mu.Lock()
		f.outbox = append(f.outbox, report)
		f.mu.Unlock()
	}
	return st, nil
}

func (f *fakeTA) SetActiveGroup(_ context.Context, _ uint32, path string) (hidl.RequestStatus, error) {
	if path == "/" { // as the real TA (docs/protocol.md §9.9): a root HAL passes access("/")
		return hidl.SysEINVAL, f.record("setActiveGroup")
	}
	return hidl.SysOK, f.record("setActiveGroup")
}

func (f *fakeTA) Authenticate(context.Context, uint64, uint32) (hidl.RequestStatus, error) {
	return f.start("authenticate")
}

func (f *fakeTA) NextEvent(ctx context.Context, wait time.Duration) (fpproto.Event, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	f.mu.Lock()
	f.waits++
	f.mu.Unlock()
	for {
		f.mu.Lock()
		if f.dead {
			f.mu.Unlock()
			return fpproto.Event{}, tee.Errorf(tee.ResultTargetDead, tee.OriginComms, "fake TA dead")
		}
		if len(f.events) > 0 {
			e := f.events[0]
			f.events = f.events[1:]
			f.mu.Unlock()
			return e, nil
		}
		f.mu.Unlock()
		select {
		case <-f.wake:
		case <-f.deadCh:
		case <-t.C:
			return fpproto.Event{Type: fpproto.MsgNone}, nil
		case <-ctx.Done():
			return fpproto.Event{}, tee.Errorf(tee.ResultCancel, tee.OriginAPI, "%v", ctx.Err())
		}
	}
}

func (f *fakeTA) FetchOutbox(context.Context) ([][]byte, uint32, error) {
	if err := f.record("fetchOutbox"); err != nil {
		return nil, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fetchErr != nil {
		return nil, 0, f.fetchErr
	}
	out := f.outbox
	f.outbox = nil
	return out, 0, nil
}

func (f *fakeTA) SetAuthTokenKey(_ context.Context, env []byte) error {
	if err := f.record("setAuthTokenKey"); err != nil {
		return err
	}
	f.mu.Lock()
	f.key = append([]byte(nil), env...)
	f.mu.Unlock()
	return nil
}

func (f *fakeTA) Close() error { return nil }

// fakeRelay records what the HAL relays to the payment TA.
type fakeRelay struct {
	mu        sync.Mutex
	delivered [][]byte
	down      bool  // no payment TA (ErrNoPaymentTA)
	openErr   error // opening a session fails otherwise
	refuse    bool
	dead      bool // Deliver fails as if the payment TA died
	hang      bool // Deliver never answers (until the HAL gives up)
	deadOnce  bool // the next Deliver fails as if the payment TA died, then it is back
	opens     int  // sessions opened
	closes    int  // sessions closed
	// onDeliver, if set, runs at every Deliver before its outcome (tests
	// look at what the client has received by then).
	onDeliver func(env []byte)
}

func (r *fakeRelay) open(context.Context) (BioRelay, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return nil, ErrNoPaymentTA
	}
	if r.openErr != nil {
		return nil, r.openErr
	}
	r.opens++
	return r, nil
}

func (r *fakeRelay) Deliver(ctx context.Context, env []byte) error {
	r.mu.Lock()
	hook, hang := r.onDeliver, r.hang
	r.mu.Unlock()
	if hook != nil {
		hook(env)
	}
	if hang {
		<-ctx.Done()
		return tee.Errorf(tee.ResultCancel, tee.OriginAPI, "%v", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return tee.Errorf(tee.ResultSecurity, tee.OriginTrustedApp, "replay")
	}
	if r.dead || r.deadOnce {
		r.deadOnce = false
		return tee.Errorf(tee.ResultTargetDead, tee.OriginComms, "payment TA gone")
	}
	r.delivered = append(r.delivered, env)
	return nil
}

// PeerClosed: a payment TA that went down or became unreachable closed
// the kept session's connection.
func (r *fakeRelay) PeerClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down || r.openErr != nil
}

func (r *fakeRelay) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes++
	return nil
}

// sessions returns how many sessions the HAL opened and closed.
func (r *fakeRelay) sessions() (opens, closes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens, r.closes
}

func (r *fakeRelay) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.delivered...)
}
