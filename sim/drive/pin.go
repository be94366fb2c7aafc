package drive

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// ErrBadHAT means Gatekeeper answered VERIFY with a token that is not the
// PASSWORD hw_auth_token_t of the request: wrong authenticator type, a
// user_id other than the user's SID, or another challenge (AOSP
// hardware/libhardware/include/hardware/hw_auth_token.h).
var ErrBadHAT = errors.New("drive: Gatekeeper's auth token does not match the request")

// PIN is a Gatekeeper user's enrolled lock-screen credential, as
// gatekeeperd holds it: the user id, the password, the password handle
// Gatekeeper returned and the secure user id (SID) bound to it. Its
// methods are safe for concurrent use.
type PIN struct {
	// UID is the Android user id.
	UID uint32
	// Password is the credential.
	Password []byte
	// Handle is the enrolled password handle (AOSP gatekeeper's
	// password_handle_t).
	Handle []byte
	// SID is the secure user id: the user_id of the user's HATs.
	SID uint64

	mu sync.Mutex
	gk rpc.Invoker
}

// EnrollPIN enrolls password for user uid in Gatekeeper (ENROLL with no
// current password, docs/protocol.md §3.2) over gk, a session on the
// Gatekeeper TA.
func EnrollPIN(ctx context.Context, gk rpc.Invoker, uid uint32, password []byte) (*PIN, error) {
	rsp, err := gkproto.Enroll{UID: uid, DesiredPassword: password}.Execute(ctx, gk)
	if err == nil {
		err = rsp.Status.Err(rsp.RetryTimeoutMs)
	}
	if err != nil {
		return nil, fmt.Errorf("gatekeeper ENROLL of user %d: %w", uid, err)
	}
	return &PIN{UID: uid, Password: password, Handle: rsp.Handle, SID: rsp.SecureUserID, gk: gk}, nil
}

// Verify verifies the PIN with challenge (VERIFY, docs/protocol.md §3.2)
// and returns the token Gatekeeper minted, unchecked: what a tool that
// studies Gatekeeper's answers (the attack suite) wants. HAT is the
// framework's checked form.
func (p *PIN) Verify(ctx context.Context, challenge uint64) (tokens.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rsp, err := gkproto.Verify{UID: p.UID, Challenge: challenge, Handle: p.Handle, Password: p.Password}.Execute(ctx, p.gk)
	if err == nil {
		err = rsp.Status.Err(rsp.RetryTimeoutMs)
	}
	if err != nil {
		return tokens.Token{}, fmt.Errorf("gatekeeper VERIFY: %w", err)
	}
	return rsp.Token, nil
}

// HAT verifies the PIN with challenge and returns Gatekeeper's PASSWORD
// HAT for it: what the framework hands the fingerprint HAL's enroll for
// its preEnroll challenge. A token that is not PASSWORD, not the user's
// SID or not for challenge is ErrBadHAT.
func (p *PIN) HAT(ctx context.Context, challenge uint64) (tokens.Token, error) {
	t, err := p.Verify(ctx, challenge)
	if err != nil {
		return t, err
	}
	switch {
	case t.AuthenticatorType != tokens.AuthPassword:
		return t, fmt.Errorf("%w: type %v, want PASSWORD", ErrBadHAT, t.AuthenticatorType)
	case t.UserID != p.SID:
		return t, fmt.Errorf("%w: user_id %#x, want SID %#x", ErrBadHAT, t.UserID, p.SID)
	case t.Challenge != challenge:
		return t, fmt.Errorf("%w: challenge %#x, want %#x", ErrBadHAT, t.Challenge, challenge)
	}
	return t, nil
}

// Delete removes the user from Gatekeeper (DELETE_USER).
func (p *PIN) Delete(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := gkproto.DeleteUser{UID: p.UID}.Execute(ctx, p.gk)
	if err == nil {
		err = st.Err(0)
	}
	if err != nil {
		return fmt.Errorf("gatekeeper DELETE_USER of user %d: %w", p.UID, err)
	}
	return nil
}
