package gkproto

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// Client-side errors.
var (
	// ErrPasswordTooLong: a password is longer than MaxPasswordSize; the
	// request is not sent.
	ErrPasswordTooLong = errors.New("gatekeeper: password longer than MaxPasswordSize")
	// ErrResponse: the TA answered TEEC_SUCCESS with outputs that break
	// docs/protocol.md §3 (wrong sizes, a token with a failure status, a
	// handle whose SID differs from the reported one, ...).
	ErrResponse = errors.New("gatekeeper: malformed response")
)

// The request types below model the Gatekeeper commands the way go-tpm
// models TPM commands: fill a value, call Execute with any rpc.Invoker (an
// rpc session, an in-process TA, a vendor's TA behind the same protocol).
// Execute returns an error only when the command did not complete (TEEC
// errors from the transport or TA, with *tee.Error in the chain, or
// ErrResponse); Gatekeeper outcomes such as a wrong password are the Status
// of the typed response, and Status.Err turns them into errors.

// SetAuthTokenKey relays Keymaster's sealed auth-token key (the envelope
// returned by Keymaster's GET_AUTH_TOKEN_KEY for the Gatekeeper TA).
type SetAuthTokenKey struct {
	Envelope []byte
}

// Execute runs SET_AUTH_TOKEN_KEY.
func (c SetAuthTokenKey) Execute(ctx context.Context, inv rpc.Invoker) error {
	p := tee.Params{tee.MemrefIn(c.Envelope)}
	return inv.Invoke(ctx, uint32(CmdSetAuthTokenKey), &p)
}

// Enroll is IGatekeeper.enroll: without CurrentHandle an untrusted enroll
// (new SID), with it a trusted re-enroll that must prove CurrentPassword.
type Enroll struct {
	UID             uint32
	CurrentHandle   []byte
	CurrentPassword []byte
	DesiredPassword []byte
}

// Execute runs ENROLL.
func (c Enroll) Execute(ctx context.Context, inv rpc.Invoker) (EnrollResponse, error) {
	if len(c.CurrentPassword) > MaxPasswordSize || len(c.DesiredPassword) > MaxPasswordSize {
		return EnrollResponse{}, ErrPasswordTooLong
	}
	payload := EnrollPayload{CurrentHandle: c.CurrentHandle, CurrentPassword: c.CurrentPassword, DesiredPassword: c.DesiredPassword}
	p := tee.Params{
		tee.ValueInout(c.UID, 0),
		tee.MemrefIn(payload.Marshal()),
		tee.MemrefOut(HandleSize),
		tee.ValueOut(),
	}
	if err := inv.Invoke(ctx, uint32(CmdEnroll), &p); err != nil {
		return EnrollResponse{}, err
	}
	rsp := EnrollResponse{
		Status:         Status(int32(p[0].A)),
		RetryTimeoutMs: p[0].B,
		SecureUserID:   uint64(p[3].A) | uint64(p[3].B)<<32,
	}
	if rsp.Status != StatusOK {
		if len(p[2].Data) != 0 || rsp.SecureUserID != 0 {
			return EnrollResponse{}, fmt.Errorf("%w: enroll: %v with a handle or SID", ErrResponse, rsp.Status)
		}
		return rsp, nil
	}
	h, err := ParseHandle(p[2].Data)
	if err != nil {
		return EnrollResponse{}, fmt.Errorf("%w: enroll: %w", ErrResponse, err)
	}
	if h.UserID != rsp.SecureUserID {
		return EnrollResponse{}, fmt.Errorf("%w: enroll: reported SID differs from the handle's", ErrResponse)
	}
	rsp.Handle = p[2].Data
	return rsp, nil
}

// Verify is IGatekeeper.verify: on success the response carries a PASSWORD
// hw_auth_token_t for Challenge.
type Verify struct {
	UID       uint32
	Challenge uint64
	Handle    []byte
	Password  []byte
}

// Execute runs VERIFY. A missing auth-token key in the TA is an error
// matching tee.ErrBadState.
func (c Verify) Execute(ctx context.Context, inv rpc.Invoker) (VerifyResponse, error) {
	if len(c.Password) > MaxPasswordSize {
		return VerifyResponse{}, ErrPasswordTooLong
	}
	payload := VerifyPayload{Handle: c.Handle, Password: c.Password}
	p := tee.Params{
		tee.ValueInout(c.UID, 0),
		tee.ValueInout(uint32(c.Challenge), uint32(c.Challenge>>32)),
		tee.MemrefIn(payload.Marshal()),
		tee.MemrefOut(tokens.Size),
	}
	if err := inv.Invoke(ctx, uint32(CmdVerify), &p); err != nil {
		return VerifyResponse{}, err
	}
	rsp := VerifyResponse{
		Status:         Status(int32(p[0].A)),
		RetryTimeoutMs: p[0].B,
	}
	switch p[1].A {
	case 0:
	case 1:
		rsp.RequestReenroll = true
	default:
		return VerifyResponse{}, fmt.Errorf("%w: verify: request_reenroll %d", ErrResponse, p[1].A)
	}
	if rsp.Status != StatusOK && rsp.Status != StatusReenroll {
		if len(p[3].Data) != 0 {
			return VerifyResponse{}, fmt.Errorf("%w: verify: %v with a token", ErrResponse, rsp.Status)
		}
		return rsp, nil
	}
	tok, err := tokens.Parse(p[3].Data)
	if err != nil {
		return VerifyResponse{}, fmt.Errorf("%w: verify: %w", ErrResponse, err)
	}
	rsp.Token = tok
	return rsp, nil
}

// DeleteUser is IGatekeeper.deleteUser.
type DeleteUser struct {
	UID uint32
}

// Execute runs DELETE_USER.
func (c DeleteUser) Execute(ctx context.Context, inv rpc.Invoker) (Status, error) {
	p := tee.Params{tee.ValueInout(c.UID, 0)}
	if err := inv.Invoke(ctx, uint32(CmdDeleteUser), &p); err != nil {
		return 0, err
	}
	return Status(int32(p[0].A)), nil
}

// DeleteAllUsers is IGatekeeper.deleteAllUsers.
type DeleteAllUsers struct{}

// Execute runs DELETE_ALL_USERS.
func (DeleteAllUsers) Execute(ctx context.Context, inv rpc.Invoker) (Status, error) {
	p := tee.Params{tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdDeleteAllUsers), &p); err != nil {
		return 0, err
	}
	return Status(int32(p[0].A)), nil
}
