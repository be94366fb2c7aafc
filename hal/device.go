package hal

import (
	"context"
	"path/filepath"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// SocketName is the file name of the HAL's north-API socket in a device's
// sock/ directory.
const SocketName = "hal.sock"

// SocketPath is the HAL's north-API socket in device directory dir:
// DIR/sock/hal.sock, beside the TA sockets.
func SocketPath(dir string) string { return filepath.Join(dir, devdir.SockDirName, SocketName) }

// DeviceConfig wires a HAL to the TAs of device directory dir (docs/protocol.md
// §7.1): the fingerprint TA at sock/fingerprint.sock, Keymaster at
// sock/keymaster.sock for the auth-token key relay, and the payment TA at
// sock/payment.sock for the bio relay (DELIVER). Logging and timing
// fields are left at their defaults.
func DeviceConfig(dir string) Config {
	return Config{
		ConnectTA: func(ctx context.Context) (TA, error) {
			return DialTA(ctx, devdir.SocketPath(dir, tee.RoleFingerprint))
		},
		AuthTokenKey: func(ctx context.Context) ([]byte, error) {
			return authTokenKey(ctx, devdir.SocketPath(dir, tee.RoleKeymaster))
		},
		Payment: paymentRelay(dir),
	}
}

// authTokenKey asks the Keymaster at socketPath for its auth-token key
// sealed to the fingerprint TA. The HAL only carries the envelope.
func authTokenKey(ctx context.Context, socketPath string) ([]byte, error) {
	c, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s, err := c.OpenSession(ctx, tee.UUIDKeymaster, nil)
	if err != nil {
		return nil, err
	}
	return kmproto.GetAuthTokenKey{Recipient: tee.UUIDFingerprint}.Execute(ctx, s)
}
