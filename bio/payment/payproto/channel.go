package payproto

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// The trusted channel commands (docs/protocol.md §8.11): the payment TA is
// the device end of the channel of §11. The REE app only carries the
// bytes they return to a TCP connection to the server and the server's
// bytes back; every key, every session key and the plaintext of a sealed
// payment stay inside the TA.
const (
	CmdChannelKey         Command = 0x10 // CHANNEL_KEY: CSR (SM2) or public key (RSA) of a channel key
	CmdChannelInstallCert Command = 0x11 // CHANNEL_INSTALL_CERT: the CA's certificate for a channel key
	CmdChannelOpen        Command = 0x12 // CHANNEL_OPEN: first handshake message
	CmdChannelContinue    Command = 0x13 // CHANNEL_CONTINUE: server message → next message, established
	CmdChannelSeal        Command = 0x14 // CHANNEL_SEAL: application message → record
	CmdChannelSealPayment Command = 0x15 // CHANNEL_SEAL_PAYMENT: SIGN_PAYMENT, sealed into a record
	CmdChannelOpenRecord  Command = 0x16 // CHANNEL_OPEN_RECORD: server record → feedback
	CmdChannelClose       Command = 0x17 // CHANNEL_CLOSE
)

func init() {
	for c, n := range map[Command]string{
		CmdChannelKey:         "CHANNEL_KEY",
		CmdChannelInstallCert: "CHANNEL_INSTALL_CERT",
		CmdChannelOpen:        "CHANNEL_OPEN",
		CmdChannelContinue:    "CHANNEL_CONTINUE",
		CmdChannelSeal:        "CHANNEL_SEAL",
		CmdChannelSealPayment: "CHANNEL_SEAL_PAYMENT",
		CmdChannelOpenRecord:  "CHANNEL_OPEN_RECORD",
		CmdChannelClose:       "CHANNEL_CLOSE",
	} {
		commandNames[c] = n
	}
}

// Parameter layouts of the channel commands (docs/protocol.md §8.11).
//
//	CHANNEL_KEY           p0 VALUE_INPUT   a = ChannelKeyKind
//	                      p1 MEMREF_OUTPUT PKCS#10 CSR (SM2 keys) or PKIX public key (RSA)
//	CHANNEL_INSTALL_CERT  p0 VALUE_INPUT   a = ChannelKeyKind (SM2 sign or enc)
//	                      p1 MEMREF_INPUT  certificate DER
//	CHANNEL_OPEN          p0 VALUE_INPUT   a = profile (chanwire.Profile)
//	                      p1 MEMREF_OUTPUT first handshake message
//	                      p2 VALUE_OUTPUT  a = channel handle
//	CHANNEL_CONTINUE      p0 VALUE_INPUT   a = handle
//	                      p1 MEMREF_INPUT  server handshake message
//	                      p2 MEMREF_OUTPUT next handshake message
//	                      p3 VALUE_OUTPUT  a = 1 when established
//	CHANNEL_SEAL          p0 VALUE_INPUT   a = handle
//	                      p1 MEMREF_INPUT  custom info (≤ chanwire.MaxCustom)
//	                      p2 MEMREF_OUTPUT record
//	CHANNEL_SEAL_PAYMENT  p0 VALUE_INPUT   a = handle
//	                      p1 VALUE_INPUT   a, b = challenge
//	                      p2 MEMREF_INPUT  KeyRef ‖ payload
//	                      p3 MEMREF_OUTPUT record (custom info = the signed statement)
//	CHANNEL_OPEN_RECORD   p0 VALUE_INPUT   a = handle
//	                      p1 MEMREF_INPUT  record from the server
//	                      p2 MEMREF_OUTPUT feedback (its custom info)
//	CHANNEL_CLOSE         p0 VALUE_INPUT   a = handle
//
// Every output memref must offer ChannelOutputCapacity bytes.
var (
	TypesChannelKey         = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefOutput}
	TypesChannelInstallCert = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput}
	TypesChannelOpen        = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefOutput, tee.ParamValueOutput}
	TypesChannelContinue    = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamValueOutput}
	TypesChannelSeal        = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesChannelSealPayment = tee.ParamTypes{tee.ParamValueInput, tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesChannelOpenRecord  = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamMemrefOutput}
	TypesChannelClose       = tee.ParamTypes{tee.ParamValueInput}
)

// ChannelOutputCapacity is the capacity every channel output memref must
// offer: the largest channel message (header and body, §11.2).
const ChannelOutputCapacity = chanwire.HeaderSize + chanwire.MaxBody

// Bounds of the channel sessions a client can run into (docs/protocol.md
// §8.10).
const (
	// MaxChannelsPerIdentity bounds the open channels of one client
	// identity: CHANNEL_OPEN beyond it closes that identity's least
	// recently used channel.
	MaxChannelsPerIdentity = 4
	// MaxChannels bounds the open channels of all identities: beyond it,
	// once idle ones are dropped, CHANNEL_OPEN is ErrChannelsBusy.
	MaxChannels = 32
	// ChannelIdleMs is how long (boot clock) a channel lives without a
	// command; then it is forgotten (ErrNoChannel).
	ChannelIdleMs = 120_000
)

// ChannelKeyKind names one of the TA's channel keys.
type ChannelKeyKind uint32

// Channel keys, generated in the TA on first use and kept in its sealed
// store.
const (
	// ChannelKeySign is the SM2 signing key (gm, gm-fs: the signing
	// certificate, digitalSignature).
	ChannelKeySign ChannelKeyKind = 1
	// ChannelKeyEnc is the SM2 encryption / key-exchange key (the
	// encryption certificate, keyAgreement or keyEncipherment).
	ChannelKeyEnc ChannelKeyKind = 2
	// ChannelKeyRSA is the RSA-2048 key of optee-rsa, whose public key the
	// server pins at registration (no certificate).
	ChannelKeyRSA ChannelKeyKind = 3
)

// String names k.
func (k ChannelKeyKind) String() string {
	switch k {
	case ChannelKeySign:
		return "sm2-sign"
	case ChannelKeyEnc:
		return "sm2-enc"
	case ChannelKeyRSA:
		return "rsa"
	}
	return fmt.Sprintf("channel-key-%d", uint32(k))
}

// Channel results and sentinels (docs/protocol.md §8.4, §8.11).
const (
	// ResultChannelFailed: a channel check failed (a handshake or record
	// rule of §11.9); the channel is dead and forgotten.
	ResultChannelFailed tee.Result = 0x50410005
	// ResultChannelNotProvisioned: the TA has no trust anchors for the
	// profile, or no installed certificate for its SM2 keys.
	ResultChannelNotProvisioned tee.Result = 0x50410006
)

var (
	ErrChannelFailed         = taError(ResultChannelFailed, "payment: channel check failed; the channel is closed")
	ErrChannelNotProvisioned = taError(ResultChannelNotProvisioned, "payment: channel not provisioned (trust anchors or certificates missing)")
	// ErrNoChannel: no open channel of this identity has the handle
	// (never opened, closed, idle too long, dead after an error, or
	// another identity's).
	ErrNoChannel = taError(tee.ResultItemNotFound, "payment: no such channel")
	// ErrChannelsBusy: MaxChannels channels are open.
	ErrChannelsBusy = taError(tee.ResultBusy, "payment: too many channels open")
	// ErrBadCertificate: CHANNEL_INSTALL_CERT got a certificate that does
	// not parse, does not chain to the trust anchors, has the wrong key
	// usage or subject, or is not for the TA's key of that kind.
	ErrBadCertificate = taError(tee.ResultSecurity, "payment: certificate refused")
)

// ChannelKey returns the CSR (SM2 keys; subject CN = the device id in
// hex) or the PKIX public key (RSA) of one of the TA's channel keys,
// generating the key on first use.
type ChannelKey struct {
	Kind ChannelKeyKind
}

// Execute runs CHANNEL_KEY.
func (c ChannelKey) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	p := tee.Params{tee.Value(uint32(c.Kind), 0), tee.MemrefOut(ChannelOutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdChannelKey), &p); err != nil {
		return nil, err
	}
	if len(p[1].Data) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrResponse)
	}
	return p[1].Data, nil
}

// InstallChannelCert installs the CA's certificate for the TA's SM2
// channel key of Kind.
type InstallChannelCert struct {
	Kind ChannelKeyKind
	DER  []byte
}

// Execute runs CHANNEL_INSTALL_CERT.
func (c InstallChannelCert) Execute(ctx context.Context, inv rpc.Invoker) error {
	p := tee.Params{tee.Value(uint32(c.Kind), 0), tee.MemrefIn(c.DER)}
	return inv.Invoke(ctx, uint32(CmdChannelInstallCert), &p)
}

// OpenChannel starts a channel of Profile (0: gm-fs).
type OpenChannel struct {
	Profile chanwire.Profile
}

// Execute runs CHANNEL_OPEN and returns the channel's handle and the first
// handshake message to send to the server.
func (c OpenChannel) Execute(ctx context.Context, inv rpc.Invoker) (uint32, []byte, error) {
	p := tee.Params{tee.Value(uint32(c.Profile), 0), tee.MemrefOut(ChannelOutputCapacity), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdChannelOpen), &p); err != nil {
		return 0, nil, err
	}
	if p[2].A == 0 || len(p[1].Data) == 0 {
		return 0, nil, fmt.Errorf("%w: no handle or message", ErrResponse)
	}
	return p[2].A, p[1].Data, nil
}

// ContinueChannel hands the server's handshake message to the channel.
type ContinueChannel struct {
	Handle uint32
	Msg    []byte
}

// Execute runs CHANNEL_CONTINUE: the next message to send, and whether
// the channel is established (the message must still be sent).
func (c ContinueChannel) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, bool, error) {
	p := tee.Params{tee.Value(c.Handle, 0), tee.MemrefIn(c.Msg), tee.MemrefOut(ChannelOutputCapacity), tee.ValueOut()}
	if err := inv.Invoke(ctx, uint32(CmdChannelContinue), &p); err != nil {
		return nil, false, err
	}
	return p[2].Data, p[3].A == 1, nil
}

// SealMessage seals an application message whose custom info is Custom;
// the TA fills the device id and the user id (docs/protocol.md §8.11).
type SealMessage struct {
	Handle uint32
	Custom []byte
}

// Execute runs CHANNEL_SEAL and returns the record.
func (c SealMessage) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	p := tee.Params{tee.Value(c.Handle, 0), tee.MemrefIn(c.Custom), tee.MemrefOut(ChannelOutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdChannelSeal), &p); err != nil {
		return nil, err
	}
	return p[2].Data, nil
}

// SealPayment is SIGN_PAYMENT whose statement goes straight into a record
// of the channel: the REE gets only the record.
type SealPayment struct {
	Handle    uint32
	Ref       KeyRef
	Challenge uint64
	Payload   []byte
	// PasswordHAT, when not nil, is Gatekeeper's PASSWORD
	// hw_auth_token_t (tokens.Size bytes) for Challenge: the TA checks it
	// and the statement then says so (proof.FlagPassword). It travels as
	// SealPaymentWithPassword in p0.b.
	PasswordHAT []byte
}

// SealPaymentFlags is CHANNEL_SEAL_PAYMENT's p0.b (docs/protocol.md
// §8.11): zero for the original layout, unknown bits refused.
type SealPaymentFlags uint32

// SealPaymentWithPassword: p2 is KeyRef ‖ 69-byte PASSWORD HAT ‖ payload.
const SealPaymentWithPassword SealPaymentFlags = 1

// ParseSealPaymentInput splits CHANNEL_SEAL_PAYMENT's p2 by its flags:
// the key reference, the password token (nil without the flag) and the
// payload. Unknown flags or a short token are ErrBadRequest. The token and the
// payload alias b: valid only as long as b (for the TA, its memref, valid
// only during the command, GPD_SPE_010 §4.9); the KeyRef is a copy.
func ParseSealPaymentInput(flags SealPaymentFlags, b []byte) (KeyRef, []byte, []byte, error) {
	if flags&^SealPaymentWithPassword != 0 {
		return KeyRef{}, nil, nil, fmt.Errorf("%w: CHANNEL_SEAL_PAYMENT flags %#x", ErrBadRequest, uint32(flags))
	}
	ref, rest, err := ParseKeyRefPrefix(b)
	if err != nil {
		return KeyRef{}, nil, nil, err
	}
	if flags&SealPaymentWithPassword == 0 {
		return ref, nil, rest, nil
	}
	if len(rest) < tokens.Size {
		return KeyRef{}, nil, nil, fmt.Errorf("%w: password token of %d bytes, want %d", ErrBadRequest, len(rest), tokens.Size)
	}
	return ref, rest[:tokens.Size:tokens.Size], rest[tokens.Size:], nil
}

// Execute runs CHANNEL_SEAL_PAYMENT and returns the record.
func (c SealPayment) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	ref, err := c.Ref.Marshal()
	if err != nil {
		return nil, err
	}
	var flags SealPaymentFlags
	if c.PasswordHAT != nil {
		if len(c.PasswordHAT) != tokens.Size {
			return nil, fmt.Errorf("%w: password token of %d bytes, want %d", ErrBadRequest, len(c.PasswordHAT), tokens.Size)
		}
		flags |= SealPaymentWithPassword
		ref = append(ref, c.PasswordHAT...)
	}
	p := tee.Params{
		tee.Value(c.Handle, uint32(flags)),
		tee.Value(uint32(c.Challenge), uint32(c.Challenge>>32)),
		tee.MemrefIn(append(ref, c.Payload...)),
		tee.MemrefOut(ChannelOutputCapacity),
	}
	if err := inv.Invoke(ctx, uint32(CmdChannelSealPayment), &p); err != nil {
		return nil, err
	}
	return p[3].Data, nil
}

// OpenChannelRecord hands a record from the server to the channel.
type OpenChannelRecord struct {
	Handle uint32
	Record []byte
}

// Execute runs CHANNEL_OPEN_RECORD and returns the feedback (the custom
// info of the server's application message, verified by the TA).
func (c OpenChannelRecord) Execute(ctx context.Context, inv rpc.Invoker) ([]byte, error) {
	p := tee.Params{tee.Value(c.Handle, 0), tee.MemrefIn(c.Record), tee.MemrefOut(ChannelOutputCapacity)}
	if err := inv.Invoke(ctx, uint32(CmdChannelOpenRecord), &p); err != nil {
		return nil, err
	}
	return p[2].Data, nil
}

// CloseChannel forgets a channel.
type CloseChannel struct {
	Handle uint32
}

// Execute runs CHANNEL_CLOSE.
func (c CloseChannel) Execute(ctx context.Context, inv rpc.Invoker) error {
	p := tee.Params{tee.Value(c.Handle, 0)}
	return inv.Invoke(ctx, uint32(CmdChannelClose), &p)
}

// ParseKeyRefPrefix decodes a KeyRef at the start of b and returns it and
// the rest (CHANNEL_SEAL_PAYMENT's p2), which aliases b. Errors as
// ParseKeyRef.
func ParseKeyRefPrefix(b []byte) (KeyRef, []byte, error) {
	if len(b) < 2 {
		return KeyRef{}, nil, fmt.Errorf("%w: key reference: truncated", ErrBadRequest)
	}
	a := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+a+2 {
		return KeyRef{}, nil, fmt.Errorf("%w: key reference: truncated", ErrBadRequest)
	}
	n := 2 + a + 2 + int(binary.BigEndian.Uint16(b[2+a:]))
	if len(b) < n {
		return KeyRef{}, nil, fmt.Errorf("%w: key reference: truncated", ErrBadRequest)
	}
	r, err := ParseKeyRef(b[:n])
	if err != nil {
		return KeyRef{}, nil, err
	}
	return r, b[n:], nil
}
