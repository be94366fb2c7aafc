package device

import (
	"context"
	"fmt"
	"os/exec"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Boot boots an emulated device in cfg.Dir — the REE side of secure boot
// (docs/architecture.md rule 2):
//
//  1. load the fused key DIR/fused.key, creating it (0600) on first boot;
//     mint a fresh BootID and sample the boot clock origin (tee/boot);
//  2. start each role of cfg.Roles as its own OS process, handing it its
//     provisioning record on fd 3 and waiting for its readiness line;
//  3. relay Keymaster's auth-token key to the TAs the manifest routes it
//     to: GET_AUTH_TOKEN_KEY(recipient) on Keymaster, then the envelope,
//     unopened, to the recipient (SET_AUTH_TOKEN_KEY on Gatekeeper). The
//     launcher only carries the bytes; it cannot read them.
//
// ctx bounds the boot only; the device lives until Shutdown. On any error
// every process already started is stopped and the error is returned
// (*StartError for a TA that failed to come up).
func Boot(ctx context.Context, cfg Config) (*Device, error) {
	// Validate and create the directory before secure boot writes the
	// fused key into it.
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	own, err := prepareDir(cfg.Dir, cfg.Roles, cfg.ClientGroup)
	if err != nil {
		return nil, err
	}
	bd, err := boot.Boot(cfg.Dir)
	if err != nil {
		own.close()
		return nil, fmt.Errorf("sim: %w", err)
	}
	d, err := newOwnedDevice(ctx, cfg, own, bootProvisioner{dev: bd, anchors: cfg.TrustAnchors}, relayAuthTokenKey)
	if err != nil {
		return nil, err
	}
	d.log.Info("secure boot done", zap.Stringer("boot_id", bd.ID()), zap.String("dir", cfg.Dir))
	return d, nil
}

// bootProvisioner mints records from the launcher's boot.Device: every
// record of one boot carries the same BootID, clock origin and derived
// keys, so a restarted TA finds its sealed state and its routes.
type bootProvisioner struct {
	dev     *boot.Device
	anchors []byte // the payment TA's trust anchors, or nil
}

func (p bootProvisioner) record(role tee.Role) ([]byte, error) {
	rec, err := p.dev.Provision(role)
	if err != nil {
		return nil, err
	}
	defer rec.Wipe()
	if role == tee.RolePayment {
		rec.Anchors = p.anchors
	}
	return rec.Marshal()
}

// BootID returns the identifier of this boot (not a secret).
func (d *Device) BootID() (boot.BootID, bool) {
	if d.boot == nil {
		return boot.BootID{}, false
	}
	return d.boot.ID(), true
}

// Dial connects to role's TA socket. The Client must be closed. The peer
// must be the process the launcher started for role (SO_PEERCRED pid);
// anything else answering on the path — the TA is down and something took
// its socket path — gets no client: the error wraps ErrForeignSocket and
// tee.ErrTargetDead.
func (d *Device) Dial(ctx context.Context, role tee.Role) (*rpc.Client, error) {
	if _, err := tee.UUIDOf(role); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c, err := d.dialOwn(ctx, role, d.SocketPath(role))
	if err != nil {
		return nil, err
	}
	return rpc.NewClient(c), nil
}

// Session is an rpc session on one TA together with the connection it
// owns; Close closes both.
type Session struct {
	*rpc.Session
	client *rpc.Client
}

// Close closes the session and its connection.
func (s *Session) Close() error {
	return s.client.Close() // closing the connection closes the session host-side
}

// OpenSession dials role's TA and opens a session on its UUID, with
// TEEC_LOGIN_PUBLIC unless opts choose another login (rpc.AsUser for the
// payment TA's app commands). The result is an rpc.Invoker for the TA's
// client request types.
func (d *Device) OpenSession(ctx context.Context, role tee.Role, opts ...rpc.SessionOption) (*Session, error) {
	u, err := tee.UUIDOf(role)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c, err := d.Dial(ctx, role)
	if err != nil {
		return nil, err
	}
	s, err := c.OpenSession(ctx, u, nil, opts...)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Session{Session: s, client: c}, nil
}

// relayAuthTokenKey is the REE key relay (docs/architecture.md rule 1): for each
// recipient it asks Keymaster for its auth-token key sealed to that
// recipient and hands the envelope over untouched.
func relayAuthTokenKey(ctx context.Context, d *Device, recipients []tee.Role) error {
	km, err := d.OpenSession(ctx, tee.RoleKeymaster)
	if err != nil {
		return fmt.Errorf("keymaster: %w", err)
	}
	defer km.Close()
	for _, r := range recipients {
		if err := relayTo(ctx, d, km, r); err != nil {
			return fmt.Errorf("auth-token key to %s: %w", r, err)
		}
		d.log.Info("auth-token key relayed", zap.String("to", string(r)))
	}
	return nil
}

func relayTo(ctx context.Context, d *Device, km rpc.Invoker, r tee.Role) error {
	u, err := tee.UUIDOf(r)
	if err != nil {
		return err
	}
	var deliver func(ctx context.Context, inv rpc.Invoker, env []byte) error
	switch r {
	case tee.RoleGatekeeper:
		deliver = func(ctx context.Context, inv rpc.Invoker, env []byte) error {
			return gkproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
		}
	case tee.RoleFingerprint:
		deliver = func(ctx context.Context, inv rpc.Invoker, env []byte) error {
			return fpproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
		}
	case tee.RolePayment:
		deliver = func(ctx context.Context, inv rpc.Invoker, env []byte) error {
			return payproto.SetAuthTokenKey{Envelope: env}.Execute(ctx, inv)
		}
	default:
		return fmt.Errorf("sim: no auth-token key relay for %s yet", r)
	}
	env, err := kmproto.GetAuthTokenKey{Recipient: u}.Execute(ctx, km)
	if err != nil {
		return fmt.Errorf("GET_AUTH_TOKEN_KEY: %w", err)
	}
	s, err := d.OpenSession(ctx, r)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := deliver(ctx, s, env); err != nil {
		return fmt.Errorf("SET_AUTH_TOKEN_KEY: %w", err)
	}
	return nil
}

// TACommand returns a Config.Command that runs `exe ta <role> --dir dir`,
// the TA entrypoints of the fpemu binary (cmd/fpemu). exe is normally
// os.Executable() of fpemu itself.
func TACommand(exe, dir string) func(tee.Role) *exec.Cmd {
	return func(role tee.Role) *exec.Cmd {
		return exec.Command(exe, "ta", string(role), "--dir", dir)
	}
}
