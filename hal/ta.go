package hal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TA is the fingerprint TA as the HAL drives it: the legacy
// fingerprint_device_t of fingerprint.h, one method per TA command
// (docs/protocol.md, fingerprint TA commands). An error means the command
// did not complete (transport or TEEC failure); the TA's answer is the
// returned value. *TAClient implements it over CA→TA sessions; tests may
// substitute a fake.
type TA interface {
	PreEnroll(ctx context.Context) (uint64, error)
	Enroll(ctx context.Context, hat []byte, gid, timeoutSec uint32) (hidl.RequestStatus, error)
	PostEnroll(ctx context.Context) (hidl.RequestStatus, error)
	GetAuthenticatorID(ctx context.Context) (uint64, error)
	Cancel(ctx context.Context) (hidl.RequestStatus, error)
	Enumerate(ctx context.Context) (hidl.RequestStatus, error)
	Remove(ctx context.Context, gid, fid uint32) (hidl.RequestStatus, error)
	SetActiveGroup(ctx context.Context, gid uint32, storePath string) (hidl.RequestStatus, error)
	Authenticate(ctx context.Context, operationID uint64, gid uint32) (hidl.RequestStatus, error)
	// NextEvent waits up to wait for the TA's next event; an event of type
	// fpproto.MsgNone means none came.
	NextEvent(ctx context.Context, wait time.Duration) (fpproto.Event, error)
	// FetchOutbox drains sealed bio envelopes queued for the payment TA,
	// oldest first (a batch; none when the outbox is empty), and says how
	// many are still queued.
	FetchOutbox(ctx context.Context) ([][]byte, uint32, error)
	// SetAuthTokenKey relays Keymaster's envelope to the TA.
	SetAuthTokenKey(ctx context.Context, envelope []byte) error
	// Close releases the connection.
	Close() error
}

// TAClient is the TA over CA→TA sessions (tee/rpc): commands on one
// session, the NEXT_EVENT pump and FETCH_OUTBOX on another, so a blocking
// NEXT_EVENT never holds up a command — CANCEL included.
//
// The two sessions are on two connections. A TA host runs a command in the
// goroutine that read it and hands that connection's reading role to a new
// goroutine only when its watchdog sees the command still running (every
// 1–8 ms, tee/rpc handoffMin/handoffMax). On one shared connection every
// AUTHENTICATE therefore queued behind the pump's NEXT_EVENT long poll
// until the next watchdog tick: that wait, not gRPC, was the ~1.5 ms the
// HAL's authenticate took beyond the TA's AUTHENTICATE (issue 14;
// docs/benchmarks.md, end to end). With its own connection a command is
// read at once. The HAL holds exactly these two connections per TA
// connection it keeps (one at a time).
type TAClient struct {
	cmdClient *rpc.Client
	evClient  *rpc.Client
	cmd       *rpc.Session
	events    *rpc.Session
}

var _ TA = (*TAClient)(nil)

// DialTA connects to the fingerprint TA listening on socketPath and opens
// the HAL's two sessions on it, each on its own connection. A TA that is
// not running is an error matching tee.ErrTargetDead.
func DialTA(ctx context.Context, socketPath string) (*TAClient, error) {
	cc, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		return nil, err
	}
	cmd, err := cc.OpenSession(ctx, tee.UUIDFingerprint, nil)
	if err != nil {
		cc.Close()
		return nil, err
	}
	ec, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		cc.Close()
		return nil, err
	}
	ev, err := ec.OpenSession(ctx, tee.UUIDFingerprint, nil)
	if err != nil {
		ec.Close()
		cc.Close()
		return nil, err
	}
	return &TAClient{cmdClient: cc, evClient: ec, cmd: cmd, events: ev}, nil
}

// Close closes both connections (and with them both sessions).
func (t *TAClient) Close() error {
	return errors.Join(t.evClient.Close(), t.cmdClient.Close())
}

func rs(s fpproto.RequestStatus, err error) (hidl.RequestStatus, error) {
	return hidl.RequestStatus(s), err
}

// PreEnroll runs PRE_ENROLL.
func (t *TAClient) PreEnroll(ctx context.Context) (uint64, error) {
	return fpproto.PreEnroll{}.Execute(ctx, t.cmd)
}

// Enroll runs ENROLL.
func (t *TAClient) Enroll(ctx context.Context, hat []byte, gid, timeoutSec uint32) (hidl.RequestStatus, error) {
	return rs(fpproto.Enroll{HAT: hat, GID: gid, TimeoutSec: timeoutSec}.Execute(ctx, t.cmd))
}

// PostEnroll runs POST_ENROLL.
func (t *TAClient) PostEnroll(ctx context.Context) (hidl.RequestStatus, error) {
	return rs(fpproto.PostEnroll{}.Execute(ctx, t.cmd))
}

// GetAuthenticatorID runs GET_AUTHENTICATOR_ID.
func (t *TAClient) GetAuthenticatorID(ctx context.Context) (uint64, error) {
	return fpproto.GetAuthenticatorID{}.Execute(ctx, t.cmd)
}

// Cancel runs CANCEL.
func (t *TAClient) Cancel(ctx context.Context) (hidl.RequestStatus, error) {
	return rs(fpproto.Cancel{}.Execute(ctx, t.cmd))
}

// Enumerate runs ENUMERATE.
func (t *TAClient) Enumerate(ctx context.Context) (hidl.RequestStatus, error) {
	return rs(fpproto.Enumerate{}.Execute(ctx, t.cmd))
}

// Remove runs REMOVE.
func (t *TAClient) Remove(ctx context.Context, gid, fid uint32) (hidl.RequestStatus, error) {
	return rs(fpproto.Remove{GID: gid, FID: fid}.Execute(ctx, t.cmd))
}

// SetActiveGroup runs SET_ACTIVE_GROUP.
func (t *TAClient) SetActiveGroup(ctx context.Context, gid uint32, storePath string) (hidl.RequestStatus, error) {
	return rs(fpproto.SetActiveGroup{GID: gid, Path: storePath}.Execute(ctx, t.cmd))
}

// Authenticate runs AUTHENTICATE.
func (t *TAClient) Authenticate(ctx context.Context, operationID uint64, gid uint32) (hidl.RequestStatus, error) {
	return rs(fpproto.Authenticate{OperationID: operationID, GID: gid}.Execute(ctx, t.cmd))
}

// NextEvent runs NEXT_EVENT on the event session.
func (t *TAClient) NextEvent(ctx context.Context, wait time.Duration) (fpproto.Event, error) {
	e, _, err := fpproto.NextEvent{Wait: wait}.Execute(ctx, t.events)
	return e, err
}

// FetchOutbox runs FETCH_OUTBOX on the event session.
func (t *TAClient) FetchOutbox(ctx context.Context) ([][]byte, uint32, error) {
	return fpproto.FetchOutbox{}.Execute(ctx, t.events)
}

// SetAuthTokenKey runs SET_AUTH_TOKEN_KEY.
func (t *TAClient) SetAuthTokenKey(ctx context.Context, envelope []byte) error {
	return fpproto.SetAuthTokenKey{Envelope: envelope}.Execute(ctx, t.cmd)
}

// taDead reports whether err means the TA process is gone (the connection
// is unusable and must be re-established).
func taDead(err error) bool {
	return errors.Is(err, tee.ErrTargetDead) || errors.Is(err, tee.ErrCommunication)
}

// statusOf maps a TA call that did not complete to the RequestStatus the
// HAL answers, the errno a legacy HAL would return for it: the TA is gone
// (TEEC_ERROR_TARGET_DEAD, COMMUNICATION) → SYS_EIO; busy → SYS_EBUSY;
// access denied → SYS_EACCES; out of memory → SYS_ENOMEM; bad parameters
// or format → SYS_EINVAL; the call timed out → SYS_ETIMEDOUT; the caller
// gave up → SYS_EINTR; anything else (a malformed answer included) →
// SYS_EIO.
func statusOf(err error) hidl.RequestStatus {
	switch {
	case err == nil:
		return hidl.SysOK
	case errors.Is(err, context.DeadlineExceeded):
		return hidl.SysETIMEDOUT
	case errors.Is(err, context.Canceled):
		return hidl.SysEINTR
	case taDead(err):
		return hidl.SysEIO
	case errors.Is(err, tee.ErrBusy):
		return hidl.SysEBUSY
	case errors.Is(err, tee.ErrAccessDenied):
		return hidl.SysEACCES
	case errors.Is(err, &tee.Error{Code: tee.ResultOutOfMemory}):
		return hidl.SysENOMEM
	case errors.Is(err, tee.ErrBadParameters), errors.Is(err, tee.ErrBadFormat):
		return hidl.SysEINVAL
	}
	return hidl.SysEIO
}

// callbackFromEvent turns one TA event into the client callback the default
// 2.1 wrapper's notify() would make of it (hidl.CallbackFromMsg). The TA
// reports HIDL numbers already (vendor codes split off as ERROR_VENDOR /
// ACQUIRED_VENDOR + vendorCode); a legacy code ≥ 1000 is still converted
// the wrapper's way, and a code the wrapper does not know becomes
// ERROR_UNABLE_TO_PROCESS / ACQUIRED_INSUFFICIENT. ERROR_LOCKOUT_PERMANENT
// (9, the framework's FINGERPRINT_ERROR_LOCKOUT_PERMANENT, outside the 2.1
// enum) is passed through. Any other error carries the TA's Reason as its
// vendorCode (fpproto.Reason.VendorCode). MsgNone and unknown types yield
// ok = false.
func callbackFromEvent(deviceID uint64, e fpproto.Event) (hidl.Callback, bool) {
	m := hidl.Msg{
		Type:      hidl.MsgType(e.Type),
		Finger:    hidl.FingerID{GID: e.GroupID, FID: e.FingerID},
		Remaining: e.Remaining,
		HAT:       e.HAT,
	}
	switch e.Type {
	case fpproto.MsgNone:
		return nil, false
	case fpproto.MsgError:
		switch {
		case e.Error == fpproto.ErrorVendor:
			return hidl.OnError{DeviceID: deviceID, Error: hidl.ErrorVendor, VendorCode: e.VendorCode}, true
		case e.Error == fpproto.ErrorLockoutPermanent:
			return hidl.OnError{DeviceID: deviceID, Error: hidl.FingerprintError(e.Error)}, true
		}
		m.Code = int32(e.Error)
		if e.Error != fpproto.ErrorLockout { // its Detail is a duration
			cb, ok := hidl.CallbackFromMsg(deviceID, m)
			if oe, isErr := cb.(hidl.OnError); isErr && oe.VendorCode == 0 {
				// The TA's reason as vendorCode beside the mandated error
				// (docs/protocol.md §10 "Vendor codes").
				oe.VendorCode = e.Reason().VendorCode()
				cb = oe
			}
			return cb, ok
		}
	case fpproto.MsgAcquired:
		if e.Acquired == fpproto.AcquiredVendor {
			return hidl.OnAcquired{DeviceID: deviceID, AcquiredInfo: hidl.AcquiredVendor, VendorCode: e.VendorCode}, true
		}
		m.Code = int32(e.Acquired)
	}
	return hidl.CallbackFromMsg(deviceID, m)
}

// errTA formats a TA failure for logs and errors.
func errTA(op string, err error) error { return fmt.Errorf("hal: %s: %w", op, err) }
