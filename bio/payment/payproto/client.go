package payproto

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The request types below model the payment TA's commands the way go-tpm
// models TPM commands: fill a value, call Execute with any rpc.Invoker (an
// rpc session, an in-process TA, a vendor's TA behind the same protocol).
// Errors from the TA match the sentinels of this package with errors.Is
// (ErrKeyInvalidated, ErrNotAuthorized, ...), and *tee.Error otherwise.

// Delivery says what DELIVER did with an envelope (p1 of its answer).
type Delivery struct {
	// Type is the message type delivered.
	Type envelope.MsgType
	// Invalidated is the number of scene keys a finger list invalidated.
	Invalidated int
	// Held reports that an auth result was kept for SIGN_PAYMENT: it is
	// successful and answers a pending payment challenge.
	Held bool
}

// Deliver relays one envelope from the fingerprint TA (bio auth result or
// finger list).
type Deliver struct {
	Envelope []byte
}

// Execute runs DELIVER.
func (c Deliver) Execute(ctx context.Context, inv rpc.Invoker) (Delivery, error) {
	p := tee.Params{tee.MemrefIn(c.Envelope), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdDeliver), &p); err != nil {
		return Delivery{}, err
	}
	d := Delivery{Type: envelope.MsgType(p[1].A)}
	switch d.Type {
	case envelope.MsgBioAuthResult:
		d.Held = p[1].B == 1
	default:
		d.Invalidated = int(p[1].B)
	}
	return d, nil
}

// DeliverAll relays a batch of envelopes (bio.SplitBatch) in order,
// stopping at the first error.
func DeliverAll(ctx context.Context, inv rpc.Invoker, envs [][]byte) error {
	for i, e := range envs {
		if _, err := (Deliver{Envelope: e}).Execute(ctx, inv); err != nil {
			return fmt.Errorf("envelope %d of %d: %w", i+1, len(envs), err)
		}
	}
	return nil
}

// SetAuthTokenKey relays Keymaster's sealed auth-token key.
type SetAuthTokenKey struct {
	Envelope []byte
}

// Execute runs SET_AUTH_TOKEN_KEY.
func (c SetAuthTokenKey) Execute(ctx context.Context, inv rpc.Invoker) error {
	p := tee.Params{tee.MemrefIn(c.Envelope)}
	return inv.Invoke(ctx, uint32(CmdSetAuthTokenKey), &p)
}

func signedOut(p *tee.Param, what string) ([]byte, error) {
	if _, err := proof.ParseSigned(p.Data); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrResponse, what, err)
	}
	return p.Data, nil
}

// GetDeviceCert returns the signed device attestation certificate.
type GetDeviceCert struct{}

// Execute runs GET_DEVICE_CERT.
func (GetDeviceCert) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	p := tee.Params{tee.MemrefOut(OutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdGetDeviceCert), &p); err != nil {
		return nil, err
	}
	return signedOut(&p[0], "device certificate")
}

// CreateAppKey creates (or replaces) the app key of AppID and returns its
// signed certificate.
type CreateAppKey struct {
	AppID string
}

// Execute runs CREATE_APP_KEY.
func (c CreateAppKey) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	ref, err := KeyRef{AppID: c.AppID}.Marshal()
	if err != nil {
		return nil, err
	}
	p := tee.Params{tee.MemrefIn(ref), tee.MemrefOut(OutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdCreateAppKey), &p); err != nil {
		return nil, err
	}
	return signedOut(&p[1], "app certificate")
}

// CreateSceneKey creates (or replaces) the scene key of Ref, bound to the
// current finger list of GroupID, and returns its signed certificate.
type CreateSceneKey struct {
	Ref     KeyRef
	GroupID uint32
}

// Execute runs CREATE_SCENE_KEY.
func (c CreateSceneKey) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return nil, err
	}
	p := tee.Params{tee.MemrefIn(ref), tee.Value(c.GroupID, 0), tee.MemrefOut(OutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdCreateSceneKey), &p); err != nil {
		return nil, err
	}
	return signedOut(&p[2], "scene certificate")
}

// GetCert returns the signed certificate of an app key (Ref.Scene empty)
// or scene key.
type GetCert struct {
	Ref KeyRef
}

// Execute runs GET_CERT.
func (c GetCert) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return nil, err
	}
	p := tee.Params{tee.MemrefIn(ref), tee.MemrefOut(OutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdGetCert), &p); err != nil {
		return nil, err
	}
	return signedOut(&p[1], "certificate")
}

// BeginPayment asks the TA for a payment challenge for the scene key of
// Ref, which must belong to the session's client identity. Authenticate a
// finger with operation_id = the challenge, then SignPayment with it.
type BeginPayment struct {
	Ref KeyRef
}

// Execute runs BEGIN_PAYMENT and returns the challenge (never 0).
func (c BeginPayment) Execute(ctx context.Context, inv rpc.Invoker) (uint64, error) {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return 0, err
	}
	p := tee.Params{tee.MemrefIn(ref), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdBeginPayment), &p); err != nil {
		return 0, err
	}
	ch := uint64(p[1].A) | uint64(p[1].B)<<32
	if ch == 0 {
		return 0, fmt.Errorf("%w: challenge 0", ErrResponse)
	}
	return ch, nil
}

// SignPayment signs Payload for Challenge with the scene key of Ref; the
// TA needs Challenge to come from BeginPayment on the same client identity
// and key, and a fresh fingerprint match whose operation id was Challenge.
type SignPayment struct {
	Ref       KeyRef
	Challenge uint64
	Payload   []byte
}

// Execute runs SIGN_PAYMENT and returns the signed statement
// (proof.VerifyPayment checks it).
func (c SignPayment) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return nil, err
	}
	p := tee.Params{
		tee.MemrefIn(ref),
		tee.Value(uint32(c.Challenge), uint32(c.Challenge>>32)),
		tee.MemrefIn(c.Payload),
		tee.MemrefOut(OutputCapacity),
	}
	if err := inv.Invoke(ctx, uint32(CmdSignPayment), &p); err != nil {
		return nil, err
	}
	out, err := signedOut(&p[3], "statement")
	if err != nil {
		return nil, err
	}
	s, _ := proof.ParseSigned(out)
	if _, err := proof.ParseStatement(s.Body); err != nil {
		return nil, fmt.Errorf("%w: statement: %w", ErrResponse, err)
	}
	return out, nil
}

// DeleteKey deletes a scene key, or an app key with all its scene keys.
type DeleteKey struct {
	Ref KeyRef
}

// Execute runs DELETE_KEY.
func (c DeleteKey) Execute(ctx context.Context, inv rpc.Invoker) error {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return err
	}
	p := tee.Params{tee.MemrefIn(ref)}
	return inv.Invoke(ctx, uint32(CmdDeleteKey), &p)
}
