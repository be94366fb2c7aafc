// Package halclient is the Go client of the fpemu fingerprint HAL north
// API: IBiometricsFingerprint@2.1 served as gRPC over a Unix socket
// (docs/protocol.md, "HAL north API (gRPC)"). It works against any HAL that
// serves hal/halpb — fpemu's own (`fpemu hal`) or a vendor's — and is what
// tests and the conformance suite drive a HAL with.
//
// Methods mirror the HIDL interface one to one. A method's error reports a
// transport failure only (the HAL is unreachable, the call was malformed);
// the HAL's answer is the returned value — a hidl.RequestStatus, a
// challenge, an authenticator id — exactly as HIDL returns it, SYS_OK or
// not. Callbacks arrive on the Callbacks that SetNotify returns, as typed
// hidl values, in the order the HAL made them.
package halclient

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
)

// ErrUnreachable means Dial could not connect to a HAL at the address.
var ErrUnreachable = errors.New("halclient: HAL unreachable")

// Client is a connection to one HAL. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	rpc  halpb.BiometricsFingerprintClient
}

// Target returns the gRPC target for addr: a "unix:" target is used as
// is; anything else is a socket path (made absolute).
func Target(addr string) (string, error) {
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "unix-abstract:") {
		return addr, nil
	}
	if addr == "" {
		return "", fmt.Errorf("halclient: empty address")
	}
	abs, err := filepath.Abs(addr)
	if err != nil {
		return "", fmt.Errorf("halclient: address %q: %w", addr, err)
	}
	return "unix://" + abs, nil
}

// Dial connects to the HAL at addr — a Unix socket path such as
// DEVICE_DIR/sock/hal.sock, or a gRPC "unix:" target — and waits until the
// connection is up or ctx ends. If nothing accepts at addr the error wraps
// ErrUnreachable. Extra options are passed to grpc.NewClient.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*Client, error) {
	target, err := Target(addr)
	if err != nil {
		return nil, err
	}
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("halclient: %w", err)
	}
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			break
		}
		if s == connectivity.TransientFailure || s == connectivity.Shutdown {
			conn.Close()
			return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
		}
		if !conn.WaitForStateChange(ctx, s) {
			conn.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, ctx.Err())
		}
	}
	return &Client{conn: conn, rpc: halpb.NewBiometricsFingerprintClient(conn)}, nil
}

// NewClient wraps an established gRPC connection (for custom transports).
// Close closes conn.
func NewClient(conn *grpc.ClientConn) *Client {
	return &Client{conn: conn, rpc: halpb.NewBiometricsFingerprintClient(conn)}
}

// Close closes the connection; open Callbacks end.
func (c *Client) Close() error { return c.conn.Close() }

func status(r *halpb.RequestStatusResponse, err error) (hidl.RequestStatus, error) {
	if err != nil {
		return 0, err
	}
	return hidl.RequestStatus(r.GetStatus()), nil
}

// PreEnroll is preEnroll(): the enrollment challenge, 0 on failure.
func (c *Client) PreEnroll(ctx context.Context) (uint64, error) {
	r, err := c.rpc.PreEnroll(ctx, &halpb.PreEnrollRequest{})
	if err != nil {
		return 0, err
	}
	return r.GetAuthChallenge(), nil
}

// Enroll is enroll(hat, gid, timeoutSec). hat must be hidl.HATSize bytes;
// the HAL refuses any other length with gRPC INVALID_ARGUMENT.
func (c *Client) Enroll(ctx context.Context, hat []byte, gid, timeoutSec uint32) (hidl.RequestStatus, error) {
	return status(c.rpc.Enroll(ctx, &halpb.EnrollRequest{Hat: hat, Gid: gid, TimeoutSec: timeoutSec}))
}

// PostEnroll is postEnroll().
func (c *Client) PostEnroll(ctx context.Context) (hidl.RequestStatus, error) {
	return status(c.rpc.PostEnroll(ctx, &halpb.PostEnrollRequest{}))
}

// GetAuthenticatorID is getAuthenticatorId().
func (c *Client) GetAuthenticatorID(ctx context.Context) (uint64, error) {
	r, err := c.rpc.GetAuthenticatorId(ctx, &halpb.GetAuthenticatorIdRequest{})
	if err != nil {
		return 0, err
	}
	return r.GetAuthenticatorId(), nil
}

// Cancel is cancel().
func (c *Client) Cancel(ctx context.Context) (hidl.RequestStatus, error) {
	return status(c.rpc.Cancel(ctx, &halpb.CancelRequest{}))
}

// Enumerate is enumerate().
func (c *Client) Enumerate(ctx context.Context) (hidl.RequestStatus, error) {
	return status(c.rpc.Enumerate(ctx, &halpb.EnumerateRequest{}))
}

// Remove is remove(gid, fid); fid 0 removes every template of gid.
func (c *Client) Remove(ctx context.Context, gid, fid uint32) (hidl.RequestStatus, error) {
	return status(c.rpc.Remove(ctx, &halpb.RemoveRequest{Gid: gid, Fid: fid}))
}

// SetActiveGroup is setActiveGroup(gid, storePath); an empty storePath is
// HIDL's null string.
func (c *Client) SetActiveGroup(ctx context.Context, gid uint32, storePath string) (hidl.RequestStatus, error) {
	return status(c.rpc.SetActiveGroup(ctx, &halpb.SetActiveGroupRequest{Gid: gid, StorePath: storePath}))
}

// Authenticate is authenticate(operationId, gid).
func (c *Client) Authenticate(ctx context.Context, operationID uint64, gid uint32) (hidl.RequestStatus, error) {
	return status(c.rpc.Authenticate(ctx, &halpb.AuthenticateRequest{OperationId: operationID, Gid: gid}))
}
