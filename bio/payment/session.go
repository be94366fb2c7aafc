package payment

import (
	"context"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// commands is the payment TA's command table (docs/protocol.md §8.4): each
// command's parameter layout is checked by the Mux before its handler runs
// (TEEC_ERROR_BAD_PARAMETERS), and an unknown command is
// TEEC_ERROR_NOT_SUPPORTED. A handler returns the TA's errors as they are;
// Invoke maps them to TEEC results (tacore.TEEError).
var commands = map[payproto.Command]rpc.Route[session]{
	payproto.CmdDeliver:         {Params: payproto.TypesDeliver, Handler: session.deliver},
	payproto.CmdGetDeviceCert:   {Params: payproto.TypesGetDeviceCert, Handler: session.deviceCert},
	payproto.CmdCreateAppKey:    {Params: payproto.TypesCreateAppKey, Handler: session.createApp},
	payproto.CmdCreateSceneKey:  {Params: payproto.TypesCreateSceneKey, Handler: session.createScene},
	payproto.CmdGetCert:         {Params: payproto.TypesGetCert, Handler: session.getCert},
	payproto.CmdSignPayment:     {Params: payproto.TypesSignPayment, Handler: session.sign},
	payproto.CmdDeleteKey:       {Params: payproto.TypesDeleteKey, Handler: session.deleteKey},
	payproto.CmdBeginPayment:    {Params: payproto.TypesBeginPayment, Handler: session.beginPayment},
	payproto.CmdSetAuthTokenKey: {Params: payproto.TypesSetAuthTokenKey, Handler: session.setAuthTokenKey},

	payproto.CmdChannelKey:         {Params: payproto.TypesChannelKey, Handler: session.channelKey},
	payproto.CmdChannelInstallCert: {Params: payproto.TypesChannelInstallCert, Handler: session.channelInstallCert},
	payproto.CmdChannelOpen:        {Params: payproto.TypesChannelOpen, Handler: session.channelOpen},
	payproto.CmdChannelContinue:    {Params: payproto.TypesChannelContinue, Handler: session.channelContinue},
	payproto.CmdChannelSeal:        {Params: payproto.TypesChannelSeal, Handler: session.channelSeal},
	payproto.CmdChannelSealPayment: {Params: payproto.TypesChannelSealPayment, Handler: session.channelSealPayment},
	payproto.CmdChannelOpenRecord:  {Params: payproto.TypesChannelOpenRecord, Handler: session.channelOpenRecord},
	payproto.CmdChannelClose:       {Params: payproto.TypesChannelClose, Handler: session.channelClose},
}

// needChannelCapacity is needCapacity for the channel commands' outputs.
func needChannelCapacity(p *tee.Params, i int) error {
	return p.NeedCapacity(i, payproto.ChannelOutputCapacity, "payment: channel output")
}

func (s session) channelKey(ctx context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 1); err != nil {
		return err
	}
	out, err := s.t.ChannelKey(ctx, s.owner, payproto.ChannelKeyKind(p[0].A))
	if err != nil {
		return err
	}
	p.SetOutput(1, out)
	return nil
}

func (s session) channelInstallCert(ctx context.Context, p *tee.Params) error {
	return s.t.InstallChannelCert(ctx, s.owner, payproto.ChannelKeyKind(p[0].A), p[1].Data)
}

func (s session) channelOpen(ctx context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 1); err != nil {
		return err
	}
	if p[0].A > 0xff {
		return payproto.ErrBadRequest
	}
	h, msg, err := s.t.OpenChannel(ctx, s.owner, chanwire.Profile(p[0].A))
	if err != nil {
		return err
	}
	p.SetOutput(1, msg)
	p.SetValue(2, h, 0)
	return nil
}

func (s session) channelContinue(_ context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 2); err != nil {
		return err
	}
	out, est, err := s.t.ContinueChannel(s.owner, p[0].A, p[1].Data)
	if err != nil {
		return err
	}
	p.SetOutput(2, out)
	e := uint32(0)
	if est {
		e = 1
	}
	p.SetValue(3, e, 0)
	return nil
}

func (s session) channelSeal(_ context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 2); err != nil {
		return err
	}
	rec, err := s.t.SealChannel(s.owner, p[0].A, p[1].Data)
	if err != nil {
		return err
	}
	p.SetOutput(2, rec)
	return nil
}

func (s session) channelSealPayment(ctx context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 3); err != nil {
		return err
	}
	ref, hat, payload, err := payproto.ParseSealPaymentInput(payproto.SealPaymentFlags(p[0].B), p[2].Data)
	if err != nil {
		return err
	}
	challenge := uint64(p[1].A) | uint64(p[1].B)<<32
	rec, err := s.t.SealChannelPayment(ctx, s.owner, p[0].A, ref, challenge, payload, hat)
	if err != nil {
		return err
	}
	p.SetOutput(3, rec)
	return nil
}

func (s session) channelOpenRecord(_ context.Context, p *tee.Params) error {
	if err := needChannelCapacity(p, 2); err != nil {
		return err
	}
	fb, err := s.t.OpenChannelRecord(s.owner, p[0].A, p[1].Data)
	if err != nil {
		return err
	}
	p.SetOutput(2, fb)
	return nil
}

func (s session) channelClose(_ context.Context, p *tee.Params) error {
	return s.t.CloseChannel(s.owner, p[0].A)
}

// session is the receiver of the command handlers: the TA and the
// session's client identity. Sessions (tacore.Commands) take no
// parameters; each holds the client identity the TA host established
// (rpc.ClientFrom): the owner of the keys its app commands touch. A session
// without one (opened with TEEC_LOGIN_PUBLIC, such as the HAL's relay) may
// DELIVER, GET_DEVICE_CERT and SET_AUTH_TOKEN_KEY; every app command
// answers it payproto.ErrNeedsIdentity (TEEC_ERROR_ACCESS_DENIED).
//
// The session runs the command table and maps the handler's error to a
// TEEC result (tacore.TEEError: envelope refusals, the payproto
// sentinels' codes, GENERIC for the store).
type session struct {
	t     *TA
	owner tee.UUID // nil for TEEC_LOGIN_PUBLIC
}

// newSession is the session opened with ctx's client identity.
func (t *TA) newSession(ctx context.Context) session {
	id, _ := rpc.ClientFrom(ctx)
	return session{t: t, owner: id.UUID}
}

// needCapacity fails with SHORT_BUFFER, before any state change, when
// output memref i offers less than payproto.OutputCapacity.
func needCapacity(p *tee.Params, i int) error {
	return p.NeedCapacity(i, payproto.OutputCapacity, "payment: output")
}

// keyRefRequest is the prologue of every command addressed to a key, after
// the Mux checked the parameter types (GPD_SPE_010 §4.3): when out ≥ 0 the
// capacity of output memref out (SHORT_BUFFER before any state change),
// then the strict parse of the key reference in p[0].
func keyRefRequest(p *tee.Params, out int) (payproto.KeyRef, error) {
	if out >= 0 {
		if err := needCapacity(p, out); err != nil {
			return payproto.KeyRef{}, err
		}
	}
	return payproto.ParseKeyRef(p[0].Data)
}

func (s session) deliver(ctx context.Context, p *tee.Params) error {
	d, err := s.t.Deliver(ctx, p[0].Data)
	if err != nil {
		s.t.Log.Warn("envelope rejected", zap.Error(err))
		return err
	}
	b := uint32(d.Invalidated)
	if d.Held {
		b = 1
	}
	p.SetValue(1, uint32(d.Type), b)
	return nil
}

func (s session) deviceCert(_ context.Context, p *tee.Params) error {
	if err := needCapacity(p, 0); err != nil {
		return err
	}
	p.SetOutput(0, s.t.DeviceCert())
	return nil
}

func (s session) createApp(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, 1)
	if err != nil {
		return err
	}
	if !ref.IsApp() {
		return payproto.ErrBadRequest
	}
	cert, err := s.t.CreateAppKey(ctx, s.owner, ref.AppID)
	if err != nil {
		return err
	}
	p.SetOutput(1, cert)
	return nil
}

func (s session) createScene(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, 2)
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
	ref, err := keyRefRequest(p, 1)
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
	ref, err := keyRefRequest(p, 3)
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
	ref, err := keyRefRequest(p, -1)
	if err != nil {
		return err
	}
	return s.t.DeleteKey(ctx, s.owner, ref)
}

func (s session) beginPayment(ctx context.Context, p *tee.Params) error {
	ref, err := keyRefRequest(p, -1)
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
	return s.t.KeyInstalled(s.t.SetAuthTokenKey(ctx, p[0].Data))
}

// BorrowsParams implements rpc.ParamBorrower: the payment TA's entry
// points keep no memref past their return, as GP allows a TA to assume
// (memory references are valid only during TA_InvokeCommandEntryPoint,
// GPD_SPE_010 §4.9), so the host lends them from its pooled buffers.
// Audited: key references are parsed into strings; DELIVER and
// SET_AUTH_TOKEN_KEY hold only what the envelope decrypts to (an auth
// result is a value); SIGN_PAYMENT and CHANNEL_SEAL_PAYMENT hash the
// payload and parse the password HAT into a value; CHANNEL_INSTALL_CERT
// stores a clone of the certificate (smx509.ParseCertificate aliases its
// input); an open channel keeps, from CHANNEL_CONTINUE's server message,
// only keys and hashes derived from it (channel.Client), and forgets a
// channel whose sticky error might refer to one; CHANNEL_SEAL and
// CHANNEL_OPEN_RECORD produce new records and plaintexts.
// TestBorrowedParamsNotRetained shows it.
func (t *TA) BorrowsParams() bool { return true }

var _ rpc.ParamBorrower = (*TA)(nil)

var _ rpc.TA = (*TA)(nil)
