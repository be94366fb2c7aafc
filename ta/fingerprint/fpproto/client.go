package fpproto

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The request types below model the fingerprint TA commands the way go-tpm
// models TPM commands: fill a value and call Execute with any rpc.Invoker
// (an rpc session, an in-process TA, a vendor's TA behind the same
// protocol). Execute returns an error only when the command did not
// complete (a *tee.Error from the transport or the TA, or ErrResponse);
// HAL-level outcomes are the RequestStatus, and asynchronous results arrive
// as Events from NextEvent.
//
// The TA keeps one state for all sessions (it serves one REE client, the
// HAL): a HAL typically pumps NextEvent on one session and sends every other
// command, CANCEL included, on another.

// ErrResponse: the TA answered TEEC_SUCCESS with outputs that break
// docs/protocol.md (a zero challenge, an oversized envelope, ...).
var ErrResponse = errors.New("fingerprint: malformed response")

func u64(p tee.Param) uint64 { return uint64(p.A) | uint64(p.B)<<32 }

func valueU64(v uint64) tee.Param { return tee.Value(uint32(v), uint32(v>>32)) }

func status(p tee.Param) RequestStatus { return RequestStatus(int32(p.A)) }

// PreEnroll is preEnroll(): a fresh random non-zero challenge for the
// enroll HAT.
type PreEnroll struct{}

// Execute runs PRE_ENROLL.
func (PreEnroll) Execute(ctx context.Context, inv rpc.Invoker) (uint64, error) {
	p := tee.Params{tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdPreEnroll), &p); err != nil {
		return 0, err
	}
	c := u64(p[0])
	if c == 0 {
		return 0, fmt.Errorf("%w: pre_enroll: zero challenge", ErrResponse)
	}
	return c, nil
}

// Enroll is enroll(hat, gid, timeoutSec): it starts an enrollment whose
// progress and outcome arrive as events. TimeoutSec 0 means
// DefaultEnrollTimeout.
type Enroll struct {
	HAT        []byte
	GID        uint32
	TimeoutSec uint32
}

// Execute runs ENROLL.
func (c Enroll) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	p := tee.Params{tee.Value(c.GID, c.TimeoutSec), tee.MemrefIn(c.HAT), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdEnroll), &p); err != nil {
		return 0, err
	}
	return status(p[2]), nil
}

// PostEnroll is postEnroll(): it invalidates the PRE_ENROLL challenge.
type PostEnroll struct{}

// Execute runs POST_ENROLL.
func (PostEnroll) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	return runStatusOnly(ctx, inv, CmdPostEnroll)
}

// GetAuthenticatorID is getAuthenticatorId() for the active group: 0 when
// it has no template.
type GetAuthenticatorID struct{}

// Execute runs GET_AUTHENTICATOR_ID.
func (GetAuthenticatorID) Execute(ctx context.Context, inv rpc.Invoker) (uint64, error) {
	p := tee.Params{tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdGetAuthenticatorID), &p); err != nil {
		return 0, err
	}
	return u64(p[0]), nil
}

// Cancel is cancel(): the running operation ends with ERROR_CANCELED (an
// ERROR_CANCELED event is queued also when nothing runs, as VTS CancelTest
// expects). The PRE_ENROLL challenge stays valid.
type Cancel struct{}

// Execute runs CANCEL.
func (Cancel) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	return runStatusOnly(ctx, inv, CmdCancel)
}

// Enumerate is enumerate(): one TEMPLATE_ENUMERATING event per template of
// the active group, or one with finger id 0 when it has none.
type Enumerate struct{}

// Execute runs ENUMERATE.
func (Enumerate) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	return runStatusOnly(ctx, inv, CmdEnumerate)
}

func runStatusOnly(ctx context.Context, inv rpc.Invoker, cmd Command) (RequestStatus, error) {
	p := tee.Params{tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(cmd), &p); err != nil {
		return 0, err
	}
	return status(p[0]), nil
}

// Remove is remove(gid, fid); FID 0 removes every template of GID. One
// TEMPLATE_REMOVED event follows per template.
type Remove struct {
	GID, FID uint32
}

// Execute runs REMOVE.
func (c Remove) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	p := tee.Params{tee.Value(c.GID, c.FID), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdRemove), &p); err != nil {
		return 0, err
	}
	return status(p[1]), nil
}

// SetActiveGroup is setActiveGroup(gid, storePath). The path must be an
// existing writable directory (SYS_EINVAL otherwise).
type SetActiveGroup struct {
	GID  uint32
	Path string
}

// Execute runs SET_ACTIVE_GROUP.
func (c SetActiveGroup) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	p := tee.Params{tee.Value(c.GID, 0), tee.MemrefIn([]byte(c.Path)), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdSetActiveGroup), &p); err != nil {
		return 0, err
	}
	return status(p[2]), nil
}

// Authenticate is authenticate(operationId, gid): it starts an
// authentication whose outcome arrives as events; a match carries a
// FINGERPRINT HAT whose challenge is OperationID.
type Authenticate struct {
	OperationID uint64
	GID         uint32
}

// Execute runs AUTHENTICATE.
func (c Authenticate) Execute(ctx context.Context, inv rpc.Invoker) (RequestStatus, error) {
	p := tee.Params{valueU64(c.OperationID), tee.Value(c.GID, 0), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdAuthenticate), &p); err != nil {
		return 0, err
	}
	return status(p[2]), nil
}

// NextEvent waits up to Wait (at most MaxEventWait; 0 polls) for the next
// event and returns it, or an event of type MsgNone.
type NextEvent struct {
	Wait time.Duration
}

// Execute runs NEXT_EVENT. The returned count is the number of events still
// queued after this one.
func (c NextEvent) Execute(ctx context.Context, inv rpc.Invoker) (Event, uint32, error) {
	wait := min(max(c.Wait, 0), MaxEventWait)
	p := tee.Params{
		tee.ValueInout(uint32(wait/time.Millisecond), 0),
		tee.ValueOut(), tee.ValueOut(), tee.MemrefOut(uint32(hatSize)),
	}
	if err := inv.Invoke(ctx, uint32(CmdNextEvent), &p); err != nil {
		return Event{}, 0, err
	}
	e, err := DecodeEvent(&p)
	if err != nil {
		return Event{}, 0, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	return e, p[0].B, nil
}

// ResetLockout clears GID's lockout given a fresh PASSWORD HAT (AIDL
// ISession.resetLockout; the HIDL framework's FingerprintResetLockoutClient).
type ResetLockout struct {
	GID uint32
	HAT []byte
}

// ResetLockoutResult is ERROR_NO_ERROR when the lockout was cleared,
// ERROR_HW_UNAVAILABLE before the auth-token key arrived and
// ERROR_UNABLE_TO_PROCESS for a refused HAT, with the Reason
// (ReasonHATUser: the HAT's user does not own the group).
type ResetLockoutResult struct {
	Error  Error
	Reason Reason
}

// Err is nil when the lockout was cleared and otherwise the typed refusal
// (ReasonError): errors.As a *HATError, errors.Is ErrNotGroupOwner for a
// HAT of another Gatekeeper user.
func (r ResetLockoutResult) Err() error { return ReasonError(r.Error, r.Reason) }

// Execute runs RESET_LOCKOUT.
func (c ResetLockout) Execute(ctx context.Context, inv rpc.Invoker) (ResetLockoutResult, error) {
	p := tee.Params{tee.Value(c.GID, 0), tee.MemrefIn(c.HAT), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdResetLockout), &p); err != nil {
		return ResetLockoutResult{}, err
	}
	return ResetLockoutResult{Error: Error(int32(p[2].A)), Reason: Reason(p[2].B)}, nil
}

// FetchOutbox drains the envelopes the bio hook sealed for the payment TA
// (BIO_AUTH_RESULT, FINGER_LIST), oldest first, for the REE to relay in
// that order (docs/protocol.md §8.3). Capacity is the batch buffer offered
// (OutboxCapacity when 0): as many whole envelopes as fit are returned; if
// not even the oldest fits the TA answers TEEC_ERROR_SHORT_BUFFER and
// removes nothing.
type FetchOutbox struct {
	Capacity uint32
}

// Execute runs FETCH_OUTBOX. It returns the envelopes (none when the outbox
// is empty) and the number still queued.
func (c FetchOutbox) Execute(ctx context.Context, inv rpc.Invoker) ([][]byte, uint32, error) {
	capacity := c.Capacity
	if capacity == 0 {
		capacity = OutboxCapacity
	}
	p := tee.Params{tee.MemrefOut(capacity), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdFetchOutbox), &p); err != nil {
		return nil, 0, err
	}
	envs, err := bio.SplitBatch(p[0].Data)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: fetch_outbox: %w", ErrResponse, err)
	}
	return envs, p[1].A, nil
}

// SetAuthTokenKey relays Keymaster's sealed auth-token key (the envelope of
// GET_AUTH_TOKEN_KEY for the fingerprint TA). Until it arrives every HAT
// check fails closed with ERROR_HW_UNAVAILABLE.
type SetAuthTokenKey struct {
	Envelope []byte
}

// Execute runs SET_AUTH_TOKEN_KEY.
func (c SetAuthTokenKey) Execute(ctx context.Context, inv rpc.Invoker) error {
	p := tee.Params{tee.MemrefIn(c.Envelope)}
	return inv.Invoke(ctx, uint32(CmdSetAuthTokenKey), &p)
}
