package payment

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Command identifiers (docs/protocol.md §8).
const (
	CmdDeliver         uint32 = 0x0
	CmdGetDeviceCert   uint32 = 0x1
	CmdCreateAppKey    uint32 = 0x2
	CmdCreateSceneKey  uint32 = 0x3
	CmdGetCert         uint32 = 0x4
	CmdSignPayment     uint32 = 0x5
	CmdDeleteKey       uint32 = 0x6
	CmdBeginPayment    uint32 = 0x7
	CmdSetAuthTokenKey uint32 = 0x1000
)

// OutputCapacity is the capacity every certificate or statement output
// memref must offer (checked before any state changes).
const OutputCapacity = proof.MaxSignedSize

// Parameter layouts. u64 values travel as two VALUE halves, a = low 32
// bits, b = high 32 bits.
//
//	DELIVER             p0 MEMREF_INPUT   envelope from the fingerprint TA
//	                    p1 VALUE_OUTPUT   a = message type, b = scene keys invalidated
//	                                      (finger list) or 1 if held (auth result)
//	GET_DEVICE_CERT     p0 MEMREF_OUTPUT  signed device certificate
//	CREATE_APP_KEY      p0 MEMREF_INPUT   KeyRef (scene empty)
//	                    p1 MEMREF_OUTPUT  signed app certificate
//	CREATE_SCENE_KEY    p0 MEMREF_INPUT   KeyRef
//	                    p1 VALUE_INPUT    a = group id
//	                    p2 MEMREF_OUTPUT  signed scene certificate
//	GET_CERT            p0 MEMREF_INPUT   KeyRef (scene empty: the app key)
//	                    p1 MEMREF_OUTPUT  signed certificate
//	SIGN_PAYMENT        p0 MEMREF_INPUT   KeyRef of a scene key
//	                    p1 VALUE_INPUT    a, b = challenge
//	                    p2 MEMREF_INPUT   payload (≤ MaxPayload)
//	                    p3 MEMREF_OUTPUT  signed statement
//	DELETE_KEY          p0 MEMREF_INPUT   KeyRef (scene empty: app key and its scenes)
//	BEGIN_PAYMENT       p0 MEMREF_INPUT   KeyRef of a scene key
//	                    p1 VALUE_OUTPUT   a, b = challenge
//	SET_AUTH_TOKEN_KEY  p0 MEMREF_INPUT   envelope from Keymaster
var (
	typesDeliver     = []tee.ParamType{tee.ParamMemrefInput, tee.ParamValueOutput}
	typesDeviceCert  = []tee.ParamType{tee.ParamMemrefOutput}
	typesCreateApp   = []tee.ParamType{tee.ParamMemrefInput, tee.ParamMemrefOutput}
	typesCreateScene = []tee.ParamType{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefOutput}
	typesGetCert     = []tee.ParamType{tee.ParamMemrefInput, tee.ParamMemrefOutput}
	typesSign        = []tee.ParamType{tee.ParamMemrefInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	typesDeleteKey   = []tee.ParamType{tee.ParamMemrefInput}
	typesBegin       = []tee.ParamType{tee.ParamMemrefInput, tee.ParamValueOutput}
	typesSetKey      = []tee.ParamType{tee.ParamMemrefInput}
)

// OpenSession implements rpc.TA. Sessions take no parameters; each holds
// the client identity the TA host established (rpc.ClientFrom): the owner
// of the keys its app commands touch. A session without one (opened with
// TEEC_LOGIN_PUBLIC, such as the HAL's relay) may DELIVER,
// GET_DEVICE_CERT and SET_AUTH_TOKEN_KEY; every app command answers it
// ErrNeedsIdentity (TEEC_ERROR_ACCESS_DENIED).
func (t *TA) OpenSession(ctx context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	id, _ := rpc.ClientFrom(ctx)
	return session{t: t, owner: id.UUID}, nil
}

type session struct {
	t     *TA
	owner tee.UUID // nil for TEEC_LOGIN_PUBLIC
}

// Close implements rpc.TASession.
func (session) Close() {}

// Invoke implements rpc.TASession.
func (s session) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	var err error
	switch cmd {
	case CmdDeliver:
		err = s.deliver(ctx, p)
	case CmdGetDeviceCert:
		err = s.deviceCert(p)
	case CmdCreateAppKey:
		err = s.createApp(ctx, p)
	case CmdCreateSceneKey:
		err = s.createScene(ctx, p)
	case CmdGetCert:
		err = s.getCert(ctx, p)
	case CmdSignPayment:
		err = s.sign(ctx, p)
	case CmdDeleteKey:
		err = s.deleteKey(ctx, p)
	case CmdBeginPayment:
		err = s.beginPayment(ctx, p)
	case CmdSetAuthTokenKey:
		err = s.setAuthTokenKey(ctx, p)
	default:
		return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "payment: unknown command 0x%x", cmd)
	}
	return teeError(err)
}

// teeError maps TA errors to TEEC results: an envelope refusal as
// envelope.TEEResult (malformed BAD_FORMAT; not meant for this TA, from an
// unknown sender or of a type its route does not carry ACCESS_DENIED;
// forged or replayed SECURITY); the sentinels of this package carry their
// code. Anything else (the store) is GENERIC with the cause in the TA log.
func teeError(err error) error {
	if err == nil {
		return nil
	}
	code, ok := envelope.TEEResult(err)
	var te *tee.Error
	switch {
	case ok:
	case errors.As(err, &te):
		code = te.Code
	default:
		return err
	}
	return &tee.Error{Code: code, Origin: tee.OriginTrustedApp, Detail: err.Error()}
}

// needCapacity fails with SHORT_BUFFER, before any state change, when
// output memref i offers less than OutputCapacity.
func needCapacity(p *tee.Params, i int) error {
	if p[i].Size < OutputCapacity {
		p[i].Size = OutputCapacity
		return tee.Errorf(tee.ResultShortBuffer, tee.OriginTrustedApp, "payment: output needs %d bytes", OutputCapacity)
	}
	return nil
}

// keyRefRequest is the prologue of every command addressed to a key: the
// parameter types exactly (GPD_SPE_010 §4.3), then — when out ≥ 0 — the
// capacity of output memref out (SHORT_BUFFER before any state change),
// then the strict parse of the key reference in p[0].
func keyRefRequest(p *tee.Params, types []tee.ParamType, out int) (KeyRef, error) {
	if err := p.Expect(types...); err != nil {
		return KeyRef{}, err
	}
	if out >= 0 {
		if err := needCapacity(p, out); err != nil {
			return KeyRef{}, err
		}
	}
	return ParseKeyRef(p[0].Data)
}

func (s session) deliver(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesDeliver...); err != nil {
		return err
	}
	d, err := s.t.Deliver(ctx, p[0].Data)
	if err != nil {
		s.t.log.Warn("envelope rejected", zap.Error(err))
		return err
	}
	b := uint32(d.Invalidated)
	if d.Held {
		b = 1
	}
	p.SetValue(1, uint32(d.Type), b)
	return nil
}

func (s session) deviceCert(p *tee.Params) error {
	if err := p.Expect(typesDeviceCert...); err != nil {
		return err
	}
	if err := needCapacity(p, 0); err != nil {
		return err
	}
	p.SetOutput(0, s.t.DeviceCert())
	return nil
}

func (s session) createApp(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesCreateApp, 1)
	if err != nil {
		return err
	}
	if !ref.IsApp() {
		return ErrBadRequest
	}
	cert, err := s.t.CreateAppKey(ctx, s.owner, ref.AppID)
	if err != nil {
		return err
	}
	p.SetOutput(1, cert)
	return nil
}

func (s session) createScene(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesCreateScene, 2)
	if err != nil {
		return err
	}
	cert, err := s.t.CreateSceneKey(ctx, s.owner, ref, p[1].A)
	if err != nil {
		return err
	}
	p.SetOutput(2, cert)
	return nil
}

func (s session) getCert(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesGetCert, 1)
	if err != nil {
		return err
	}
	cert, err := s.t.Cert(ctx, s.owner, ref)
	if err != nil {
		return err
	}
	p.SetOutput(1, cert)
	return nil
}

func (s session) sign(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesSign, 3)
	if err != nil {
		return err
	}
	challenge := uint64(p[1].A) | uint64(p[1].B)<<32
	out, err := s.t.SignPayment(ctx, s.owner, ref, challenge, p[2].Data)
	if err != nil {
		return err
	}
	p.SetOutput(3, out)
	return nil
}

func (s session) deleteKey(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesDeleteKey, -1)
	if err != nil {
		return err
	}
	return s.t.DeleteKey(ctx, s.owner, ref)
}

func (s session) beginPayment(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, typesBegin, -1)
	if err != nil {
		return err
	}
	c, err := s.t.BeginPayment(ctx, s.owner, ref)
	if err != nil {
		return err
	}
	p.SetValue(1, uint32(c), uint32(c>>32))
	return nil
}

func (s session) setAuthTokenKey(ctx context.Context, p *tee.Params) error {
	if err := p.Expect(typesSetKey...); err != nil {
		return err
	}
	err := s.t.SetAuthTokenKey(ctx, p[0].Data)
	if err != nil {
		s.t.log.Warn("auth-token key envelope rejected", zap.Error(err))
	}
	return err
}

var _ rpc.TA = (*TA)(nil)
