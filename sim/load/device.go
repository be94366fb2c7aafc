package load

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

// SceneRef is the payment scene key every simulated device pays with.
var SceneRef = payproto.KeyRef{AppID: "com.fpemu.load", Scene: "pay"}

// Fingers are the enrolled fingers each simulated device reports (group
// 0); payments are authorised by a match of Fingers[0].
var Fingers = []uint32{1, 2}

// authenticatorID is the fingerprint group's authenticator id.
const authenticatorID = 0x10AD

// Files of a device directory (owner-only, 0700): the sealed store and its
// rollback counter are the TA's; storage.key is the device's storage key
// (what fused hardware would derive it from; 0600), registration.json the
// attestation chain the payment app registers with the server.
const (
	storageKeyFile   = "storage.key"
	counterFile      = "counter"
	paymentDBFile    = "payment.db"
	registrationFile = "registration.json"
	// RootsFile, in the load directory, holds every device's attestation
	// public key (PEM PUBLIC KEY blocks): `fpemu server --device-roots`.
	RootsFile = "device-roots.pem"
	// anchorsFile, in the load directory, holds the channel trust anchors
	// every device is provisioned with (payproto.TrustAnchors).
	anchorsFile = "anchors.bin"
)

// ErrNotProvisioned is returned by Run when the load directory holds
// fewer provisioned devices than asked for.
var ErrNotProvisioned = errors.New("load: devices not provisioned (run `fpemu load init` first)")

// Device is one simulated phone: its own payment TA (bio/payment, the
// real TA code) hosted in this process behind a real tee/rpc server on a
// Unix socket, with its own sealed store; the fingerprint TA's bio hook
// played by a real bio.Sender sealing auth results for the payment TA;
// and the payment app's session (TEEC_LOGIN_USER) on the TA.
type Device struct {
	Index int
	// Pay is the payment app's session on the TA.
	Pay *rpc.Session
	// Hook is the fingerprint TA's side of the bio hook.
	Hook *bio.Sender
	// Reg is the scene key's attestation chain.
	Reg drive.Registration

	ta      *payment.TA
	srv     *rpc.Server
	served  chan error
	client  *rpc.Client
	sockDir string
}

// deviceDir is device i's directory under dir.
func deviceDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("dev-%05d", i)) }

// OpenDevice boots device i of the load directory dir, which Init
// provisioned: the device a test drives by hand (Run opens its own).
// Close it when done.
func OpenDevice(ctx context.Context, dir string, i int) (*Device, error) {
	anchors, err := os.ReadFile(filepath.Join(dir, anchorsFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotProvisioned, err)
	}
	return openDevice(ctx, dir, i, anchors, false)
}

// openDevice boots device i of dir (a fresh boot: boot id, envelope
// keyring and clock drawn now; the sealed store and its storage key kept
// from earlier boots), hosting its TA on a socket in a short temporary
// directory of its own (sun_path is 108 bytes), removed by Close.
func openDevice(ctx context.Context, dir string, i int, anchors []byte, create bool) (d *Device, err error) {
	ddir := deviceDir(dir, i)
	sk, err := os.ReadFile(filepath.Join(ddir, storageKeyFile))
	switch {
	case err == nil && len(sk) != 32:
		return nil, fmt.Errorf("load: %s: storage key of %d bytes", ddir, len(sk))
	case errors.Is(err, os.ErrNotExist) && create:
		if err := os.MkdirAll(ddir, 0o700); err != nil {
			return nil, err
		}
		sk = make([]byte, 32)
		if _, err := rand.Read(sk); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(ddir, storageKeyFile), sk, 0o600); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: no device %d in %s", ErrNotProvisioned, i, dir)
	case err != nil:
		return nil, err
	}
	ctr, err := store.OpenFileCounter(filepath.Join(ddir, counterFile), sk)
	if err != nil {
		return nil, err
	}
	keys := make(envelope.Keyring, len(tee.Routes))
	for _, r := range tee.Routes {
		var k envelope.Key
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		keys[r] = k
	}
	bootID := make([]byte, 16)
	if _, err := rand.Read(bootID); err != nil {
		return nil, err
	}
	origin, err := boot.BootTimeNs()
	if err != nil {
		return nil, err
	}
	clock := boot.NewClock(origin)
	ta, err := payment.NewTA(payment.Config{Config: tacore.Config{
		Self: tee.UUIDPayment, StorageKey: sk, DBPath: filepath.Join(ddir, paymentDBFile),
		StoreOptions: []store.Option{store.WithCounter(ctr)}, Keys: keys.For(tee.UUIDPayment), BootID: bootID,
		MACAlgorithm: tokens.HMACSHA256, Clock: clock,
	}, Anchors: anchors})
	if err != nil {
		return nil, fmt.Errorf("load: device %d: payment TA: %w", i, err)
	}
	d = &Device{Index: i, ta: ta, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	sealer, err := envelope.NewSealer(tee.UUIDFingerprint, keys.For(tee.UUIDFingerprint), clock)
	if err != nil {
		return nil, err
	}
	if d.Hook, err = bio.NewSender(sealer, clock); err != nil {
		return nil, err
	}
	if d.sockDir, err = os.MkdirTemp("", "fpl"); err != nil {
		return nil, err
	}
	sock := filepath.Join(d.sockDir, "pay.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	d.srv = rpc.NewServer(tee.UUIDPayment, ta, zap.NewNop())
	go func() { d.served <- d.srv.Serve(ln) }()
	if d.client, err = rpc.Dial(ctx, sock); err != nil {
		return nil, err
	}
	if d.Pay, err = d.client.OpenSession(ctx, tee.UUIDPayment, nil, rpc.AsUser()); err != nil {
		return nil, fmt.Errorf("load: device %d: open session: %w", i, err)
	}
	// Every boot the fingerprint TA reports its enrolled fingers.
	if err := d.Hook.SetFingerList(0, authenticatorID, Fingers); err != nil {
		return nil, err
	}
	if err := d.Relay(ctx); err != nil {
		return nil, fmt.Errorf("load: device %d: finger list: %w", i, err)
	}
	if b, err := os.ReadFile(filepath.Join(ddir, registrationFile)); err == nil {
		var r savedReg
		if err := json.Unmarshal(b, &r); err != nil || len(r.Device) == 0 {
			return nil, fmt.Errorf("load: device %d: %s unreadable", i, registrationFile)
		}
		d.Reg = drive.Registration{Device: r.Device, App: r.App, Scene: r.Scene}
	} else if !create {
		return nil, fmt.Errorf("%w: device %d has no registration", ErrNotProvisioned, i)
	}
	return d, nil
}

// savedReg is registration.json: the TA's signed device, app and scene
// certificates (public).
type savedReg struct {
	Device, App, Scene []byte
}

// Relay delivers the bio hook's pending envelopes to the payment TA, in
// order (what the HAL's relay does on a device).
func (d *Device) Relay(ctx context.Context) error {
	return payproto.DeliverAll(ctx, d.Pay, d.Hook.Drain(0))
}

// Touch is the user's finger on the sensor for TA challenge op: the
// fingerprint TA reports a match of Fingers[0] for op, relayed to the
// payment TA.
func (d *Device) Touch(ctx context.Context, op uint64) error {
	if err := d.Hook.SetAuthResult(bio.ResultSuccess, Fingers[0], op,
		bio.Match{UserID: 0x10AD0000 + uint64(d.Index), AuthenticatorID: authenticatorID, GroupID: 0}); err != nil {
		return err
	}
	return d.Relay(ctx)
}

// Sign has the TA sign payload for the scene key after a fingerprint
// match (BEGIN_PAYMENT, the match, SIGN_PAYMENT): the statement a
// payment app would hold.
func (d *Device) Sign(ctx context.Context, payload []byte) ([]byte, error) {
	op, err := payproto.BeginPayment{Ref: SceneRef}.Execute(ctx, d.Pay)
	if err != nil {
		return nil, err
	}
	if err := d.Touch(ctx, op); err != nil {
		return nil, err
	}
	return payproto.SignPayment{Ref: SceneRef, Challenge: op, Payload: payload}.Execute(ctx, d.Pay)
}

// provision creates the scene key and the channel key pairs in the TA,
// has c issue the device's dual channel certificates and installs them,
// and keeps the registration chain in the device directory. It returns
// the device's attestation public key (PEM).
func (d *Device) provision(ctx context.Context, dir string, c *ca.CA) ([]byte, error) {
	ddir := deviceDir(dir, d.Index)
	if len(d.Reg.Device) == 0 {
		reg, err := drive.RegisterScene(ctx, d.Pay, SceneRef, 0, nil)
		if err != nil {
			return nil, err
		}
		signCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, d.Pay)
		if err != nil {
			return nil, err
		}
		encCSR, err := payproto.ChannelKey{Kind: payproto.ChannelKeyEnc}.Execute(ctx, d.Pay)
		if err != nil {
			return nil, err
		}
		iss, err := c.Issue(ctx, ca.Request{CSR: signCSR, EncCSR: encCSR, Profile: ca.ProfileDevice, Usage: ca.UsageDual})
		if err != nil {
			return nil, err
		}
		if err := (payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: iss.Certs[0].Raw}).Execute(ctx, d.Pay); err != nil {
			return nil, err
		}
		if err := (payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: iss.Certs[1].Raw}).Execute(ctx, d.Pay); err != nil {
			return nil, err
		}
		b, err := json.Marshal(savedReg{Device: reg.Device, App: reg.App, Scene: reg.Scene})
		if err != nil {
			return nil, err
		}
		// Written last: a device with a registration file is complete.
		if err := os.WriteFile(filepath.Join(ddir, registrationFile), b, 0o600); err != nil {
			return nil, err
		}
		d.Reg = reg
	}
	dc, err := proof.VerifyDeviceCert(d.Reg.Device)
	if err != nil {
		return nil, err
	}
	return dc.PublicKey.PEM()
}

// Close ends the session, the TA host and the TA.
func (d *Device) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if d.Pay != nil {
		_ = d.Pay.Close(ctx)
	}
	if d.client != nil {
		_ = d.client.Close()
	}
	if d.srv != nil {
		if err := d.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := <-d.served; err != nil && !errors.Is(err, rpc.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if d.ta != nil {
		errs = append(errs, d.ta.Close())
	}
	if d.sockDir != "" {
		errs = append(errs, os.RemoveAll(d.sockDir))
	}
	return errors.Join(errs...)
}
