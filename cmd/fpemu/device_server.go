package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// A standing device wired to a standing `fpemu server` (docs/protocol.md
// §14.8): the payment TA provisioned with the server's trust anchors, its
// channel certificates issued by the server's CA, and the wiring checked by
// a gm-fs handshake with the server before the device is reported up.

// serverProbeTimeout bounds the check that the server answers the
// channel handshake.
const serverProbeTimeout = 15 * time.Second

// ServerLink is what `device up --server` reports of the wiring (the
// "server" member of DeviceInfo).
type ServerLink struct {
	// Addr is the server's channel address (--server).
	Addr string `json:"addr"`
	// Name is the server name the payment TA's trust anchors expect.
	Name string `json:"name"`
	// Profile is the channel profile the handshake check used.
	Profile string `json:"profile"`
	// DeviceID is the device id the channel certificates name (hex).
	DeviceID string `json:"device_id"`
	// ChannelCerts are the serials of the signing and encryption
	// certificates the CA issued this boot.
	ChannelCerts []string `json:"channel_certs"`
}

// serverOptions are --server, --ca and --server-name.
type serverOptions struct {
	addr, caDir, name string
}

// trustAnchors returns the payment TA's trust anchors for the server: the
// CA's root and the server name.
func (o serverOptions) trustAnchors() ([]byte, error) {
	c, err := ca.Open(o.caDir, ca.Options{})
	if err != nil {
		return nil, usageErrorf("--ca: %v", err)
	}
	defer c.Close()
	return payproto.TrustAnchors{ServerName: o.name, Roots: [][]byte{c.Root().Raw}}.Marshal()
}

// wireServer gives the payment TA its channel certificates (CSRs made in
// the TA for the app's identity, issued by the CA in --ca, installed in the
// TA) and checks with a gm-fs handshake that the server at --server
// accepts them and that the TA accepts the server.
func wireServer(ctx context.Context, st *device.Stack, o serverOptions) (*ServerLink, error) {
	ctx, cancel := context.WithTimeout(ctx, serverProbeTimeout)
	defer cancel()
	// The payment app's identity: the app logs in as its user.
	pay, err := st.OpenSession(ctx, tee.RolePayment, rpc.AsUser())
	if err != nil {
		return nil, err
	}
	defer pay.Close()
	c, err := ca.Open(o.caDir, ca.Options{})
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	defer c.Close()
	scsr, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, pay)
	if err != nil {
		return nil, err
	}
	ecsr, err := payproto.ChannelKey{Kind: payproto.ChannelKeyEnc}.Execute(ctx, pay)
	if err != nil {
		return nil, err
	}
	certs, err := channelCertsFor(ctx, c, scsr, ecsr)
	if err != nil {
		return nil, err
	}
	for i, kind := range []payproto.ChannelKeyKind{payproto.ChannelKeySign, payproto.ChannelKeyEnc} {
		if err := (payproto.InstallChannelCert{Kind: kind, DER: certs[i].Raw}).Execute(ctx, pay); err != nil {
			return nil, fmt.Errorf("installing the channel certificates: %w", err)
		}
	}
	dev, err := deviceCert(ctx, pay)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	ch, err := drive.Connect(ctx, pay, conn, chanwire.ProfileGMFS)
	if err != nil {
		return nil, fmt.Errorf("--server %s: gm-fs handshake: %w", o.addr, err)
	}
	_ = ch.Close(ctx)
	return &ServerLink{Addr: o.addr, Name: o.name, Profile: "gm-fs", DeviceID: hex.EncodeToString(dev.DeviceID[:]),
		ChannelCerts: []string{ca.FormatSerial(certs[0].SerialNumber), ca.FormatSerial(certs[1].SerialNumber)}}, nil
}

// channelCertsFor has the CA issue the dual pair for the TA's channel
// CSRs. The TA keeps its channel keys across boots, so on a later boot
// the CA refuses the same keys again (ca.ErrDuplicate, one certificate per
// key): then the pair already issued for these keys, unrevoked and
// unexpired, is taken from the register (a scan of at most the register's
// MaxRows rows).
func channelCertsFor(ctx context.Context, c *ca.CA, scsr, ecsr []byte) ([2]*smx509.Certificate, error) {
	var out [2]*smx509.Certificate
	iss, err := c.Issue(ctx, ca.Request{CSR: scsr, EncCSR: ecsr, Profile: ca.ProfileDevice, Usage: ca.UsageDual})
	switch {
	case err == nil && len(iss.Certs) == 2:
		out[0], out[1] = iss.Certs[0], iss.Certs[1]
		return out, nil
	case err == nil:
		return out, fmt.Errorf("--ca: issued %d certificates, want the dual pair", len(iss.Certs))
	case !errors.Is(err, ca.ErrDuplicate):
		return out, fmt.Errorf("--ca: issuing the device's channel certificates: %w", err)
	}
	recs, lerr := c.List(ctx)
	if lerr != nil {
		return out, fmt.Errorf("--ca: %w", lerr)
	}
	for i, der := range [][]byte{scsr, ecsr} {
		req, perr := smx509.ParseCertificateRequest(der)
		if perr != nil {
			return out, perr
		}
		want, ok := req.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			return out, errors.New("channel CSR: not an SM2 key")
		}
		for _, r := range recs {
			crt, cerr := r.Certificate()
			if cerr != nil || r.Profile != ca.ProfileDevice || r.Status != ca.StatusValid {
				continue
			}
			if pub, ok := crt.PublicKey.(*ecdsa.PublicKey); ok && pub.Equal(want) {
				out[i] = crt
			}
		}
		if out[i] == nil {
			return out, fmt.Errorf("--ca: issuing the device's channel certificates: %w (and no usable certificate for the key in the register)", err)
		}
	}
	return out, nil
}

func newDeviceRootCmd() *cobra.Command {
	var pf processFlags
	c := &cobra.Command{
		Use:   "root --dir DEVICE_DIR",
		Short: "Print the device's attestation public key (what a payment server's --device-roots lists)",
		Long: `Boot Keymaster and the payment TA of the device in DEVICE_DIR (created 0700 if
missing; not while 'fpemu device up' runs on it), print the payment TA's device
attestation public key as a PEM PUBLIC KEY block on stdout, and stop them.

The key is the device's for good: it is made on the first boot and kept in the
payment TA's sealed store. A payment server trusts a device's registrations
only if this key is in its --device-roots file (docs/protocol.md §14.3, §14.8):

  fpemu device root --dir dev >> device-roots.pem
  fpemu server --ca ca --device-roots device-roots.pem …
  fpemu device up --dir dev --server 127.0.0.1:7400 --ca ca`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			self, err := newSelfLauncher(lvl)
			if err != nil {
				return err
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			st, err := device.Up(ctx, device.StackConfig{Config: device.Config{
				Dir: abs, Roles: []tee.Role{tee.RoleKeymaster, tee.RolePayment}, Command: self.ta(abs),
				Log: tee.NewLoggerTo(cmd.ErrOrStderr(), "launcher", lvl), Stderr: cmd.ErrOrStderr(),
			}})
			if err != nil {
				return err
			}
			pem, rerr := deviceRoot(ctx, st)
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := st.Close(sctx); err != nil && rerr == nil {
				rerr = err
			}
			if rerr != nil {
				return rerr
			}
			_, err = cmd.OutOrStdout().Write(pem)
			return err
		},
	}
	pf.register(c, "device directory", "log level of the launcher and the TAs: debug, info, warn, error")
	return c
}

// deviceRoot returns the payment TA's device attestation key, PEM.
func deviceRoot(ctx context.Context, st *device.Stack) ([]byte, error) {
	pay, err := st.OpenSession(ctx, tee.RolePayment)
	if err != nil {
		return nil, err
	}
	defer pay.Close()
	dev, err := deviceCert(ctx, pay)
	if err != nil {
		return nil, err
	}
	return dev.PublicKey.PEM()
}

// deviceCert is the payment TA's device certificate (GET_DEVICE_CERT),
// checked (proof.VerifyDeviceCert: self-signed by the attestation key).
func deviceCert(ctx context.Context, pay rpc.Invoker) (proof.Cert, error) {
	b, err := payproto.GetDeviceCert{}.Execute(ctx, pay)
	if err != nil {
		return proof.Cert{}, err
	}
	return proof.VerifyDeviceCert(b)
}
