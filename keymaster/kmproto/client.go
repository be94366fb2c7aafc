package kmproto

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The client models each Keymaster command as a request type executed
// over an rpc.Invoker (go-tpm style): GetAuthTokenKey{...}.Execute(ctx,
// inv). A Keymaster failure comes back as *Error (errors.Is(err,
// ErrKeyUserNotAuthenticated), ...); GP-level failures as *tee.Error
// (errors.Is(err, tee.ErrAccessDenied), ...).

func invoke(ctx context.Context, inv rpc.Invoker, cmd Command, p *tee.Params) error {
	return FromTEE(inv.Invoke(ctx, uint32(cmd), p))
}

// output returns the bytes the TA wrote to memref i.
func output(p *tee.Params, i int) ([]byte, error) {
	if p[i].Type != tee.ParamMemrefOutput {
		return nil, fmt.Errorf("keymaster: parameter %d came back as %s", i, p[i].Type)
	}
	return p[i].Data, nil
}

// GetAuthTokenKey asks Keymaster for its per-boot auth-token key, sealed
// in an envelope (type envelope.MsgAuthTokenKey) that only Recipient can
// open. A recipient the manifest does not route Keymaster to is refused
// with tee.ErrAccessDenied.
type GetAuthTokenKey struct {
	Recipient tee.UUID
}

// Execute runs the command and returns the envelope.
func (c GetAuthTokenKey) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	p := tee.Params{tee.MemrefIn(c.Recipient[:]), tee.MemrefOut(AuthTokenKeyEnvelopeSize)}
	if err := invoke(ctx, inv, CmdGetAuthTokenKey, &p); err != nil {
		return nil, err
	}
	return output(&p, 1)
}

// GenerateKey creates a signing key with the given parameters.
type GenerateKey struct {
	Params Params
}

// GenerateKeyResponse is what GENERATE_KEY returns.
type GenerateKeyResponse struct {
	// Blob is the sealed key, to be given back to Begin.
	Blob []byte
	// PublicKey is the 65-byte uncompressed point 0x04||X||Y.
	PublicKey []byte
}

// Execute runs the command.
func (c GenerateKey) Execute(ctx context.Context, inv rpc.Invoker) (*GenerateKeyResponse, error) {
	enc, err := c.Params.Marshal()
	if err != nil {
		return nil, &Error{Code: ErrorInvalidArgument, Err: err}
	}
	p := tee.Params{tee.MemrefIn(enc), tee.MemrefOut(uint32(BlobSize(len(enc)))), tee.MemrefOut(PublicKeySize)}
	if err := invoke(ctx, inv, CmdGenerateKey, &p); err != nil {
		return nil, err
	}
	blob, err := output(&p, 1)
	if err != nil {
		return nil, err
	}
	pub, err := output(&p, 2)
	if err != nil {
		return nil, err
	}
	return &GenerateKeyResponse{Blob: blob, PublicKey: pub}, nil
}

// Begin starts an operation on a key. Purpose must be PurposeSign (the
// only operation the TA performs). HAT is the 69-byte hw_auth_token_t, or
// nil: timeout-bound keys need one here, per-operation keys need none.
type Begin struct {
	Blob    []byte
	Purpose Purpose
	HAT     []byte
}

// Execute runs the command and returns the operation handle, which is
// also the challenge a per-operation HAT must carry.
func (c Begin) Execute(ctx context.Context, inv rpc.Invoker) (uint64, error) {
	p := tee.Params{tee.MemrefIn(c.Blob), tee.Value(uint32(c.Purpose), 0), tee.MemrefIn(c.HAT), tee.ValueOut()}
	if err := invoke(ctx, inv, CmdBegin, &p); err != nil {
		return 0, err
	}
	return HandleOf(p[3]), nil
}

// Update feeds Input to an operation. Per-operation keys need a HAT whose
// challenge is the handle on every Update and Finish.
type Update struct {
	Handle uint64
	Input  []byte
	HAT    []byte
}

// Execute runs the command.
func (c Update) Execute(ctx context.Context, inv rpc.Invoker) error {
	a, b := HandleParam(c.Handle)
	p := tee.Params{tee.Value(a, b), tee.MemrefIn(c.Input), tee.MemrefIn(c.HAT)}
	return invoke(ctx, inv, CmdUpdate, &p)
}

// Finish feeds the last Input, signs and ends the operation.
type Finish struct {
	Handle uint64
	Input  []byte
	HAT    []byte
}

// Execute runs the command and returns the ASN.1 DER signature.
func (c Finish) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	a, b := HandleParam(c.Handle)
	p := tee.Params{tee.Value(a, b), tee.MemrefIn(c.Input), tee.MemrefIn(c.HAT), tee.MemrefOut(MaxSignatureSize)}
	if err := invoke(ctx, inv, CmdFinish, &p); err != nil {
		return nil, err
	}
	return output(&p, 3)
}

// Abort ends an operation without a result.
type Abort struct {
	Handle uint64
}

// Execute runs the command.
func (c Abort) Execute(ctx context.Context, inv rpc.Invoker) error {
	a, b := HandleParam(c.Handle)
	p := tee.Params{tee.Value(a, b)}
	return invoke(ctx, inv, CmdAbort, &p)
}
