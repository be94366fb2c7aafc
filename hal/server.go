package hal

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fpemu/fpemu/hal/halpb"
	"github.com/fpemu/fpemu/hal/hidl"
)

// Server serves a HAL as the gRPC service halpb.BiometricsFingerprint
// (docs/protocol.md, "HAL north API (gRPC)").
type Server struct {
	halpb.UnimplementedBiometricsFingerprintServer
	hal    *HAL
	log    *zap.Logger
	buffer int // callbacks a SetNotify stream may have waiting
}

// NewServer returns the gRPC service of h; each SetNotify stream may have
// DefaultSinkBuffer callbacks waiting.
func NewServer(h *HAL) *Server { return &Server{hal: h, log: h.log, buffer: DefaultSinkBuffer} }

// NewGRPCServer returns a grpc.Server with the service of h registered.
func NewGRPCServer(h *HAL, opts ...grpc.ServerOption) *grpc.Server {
	return newGRPCServer(NewServer(h), opts...)
}

// streamWorkers is how many goroutines the HAL's gRPC server keeps to run
// calls (grpc.NumStreamWorkers). Without them gRPC starts a fresh goroutine
// per call, whose small initial stack grows, by copying, through the
// call's depth (gRPC → HAL → the TA client → the frame decoder) on every
// authenticate: ~11 % of the HAL's CPU in the e2e payment profile
// (runtime.newstack/copystack; docs/benchmarks.md, issue 14). A worker keeps
// its grown stack from call to call. A long-lived SetNotify stream holds
// one; when all are busy gRPC falls back to a goroutine per call, so a
// call never waits for a worker.
const streamWorkers = 4

func newGRPCServer(srv *Server, opts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.NumStreamWorkers(streamWorkers)}, opts...)...)
	halpb.RegisterBiometricsFingerprintServer(s, srv)
	return s
}

// SetNotify registers the stream as the client callback: it sends
// notify_registered with the deviceId, then every callback in order, until
// the client goes away (setNotify(null)), a newer SetNotify replaces it
// (status ABORTED), the client falls behind (RESOURCE_EXHAUSTED) or the
// HAL shuts down (UNAVAILABLE).
//
// Falling behind: a callback the HAL makes while s.buffer callbacks are
// already waiting for a gRPC transport that will not take them (HTTP/2
// flow control: the client is not reading) ends the stream at once with
// RESOURCE_EXHAUSTED — the handler returns without waiting for the blocked
// send, so the HAL holds nothing more for that client, and the callbacks
// still waiting are not sent: the status is how the client learns it lost
// callbacks. No callback is ever skipped on a stream that stays open
// (docs/protocol.md §10.3).
func (s *Server) SetNotify(_ *halpb.SetNotifyRequest, stream grpc.ServerStreamingServer[halpb.ClientCallback]) error {
	sink := NewSink(s.buffer)
	id := s.hal.SetNotify(sink)
	defer s.hal.Unregister(sink)
	if err := stream.Send(halpb.Registered(id)); err != nil {
		return err
	}
	ctx := stream.Context()
	stop := make(chan struct{})
	defer close(stop)
	sent := make(chan error, 1)
	go func() { sent <- s.pump(ctx, stream, sink, stop) }()
	select {
	case err := <-sent:
		return err
	case <-sink.Done():
	}
	if !errors.Is(sink.Err(), ErrOverflow) {
		return <-sent // replaced or closed: the pump flushes what was queued
	}
	s.log.Warn("callback stream ended: client not reading",
		zap.Int("waiting", len(sink.C())), zap.String("status", codes.ResourceExhausted.String()))
	return sinkStatus(ErrOverflow)
}

// pump sends the sink's callbacks on stream in order. When the sink is
// dropped for a reason other than overflow it flushes what was queued and
// returns the stream's final status. It stops before the next send once
// stop is closed (the handler has returned).
func (s *Server) pump(ctx context.Context, stream grpc.ServerStreamingServer[halpb.ClientCallback], sink *Sink, stop <-chan struct{}) error {
	next := func(cb hidl.Callback) error {
		select {
		case <-stop:
			return status.Error(codes.Canceled, "stream ended")
		default:
		}
		return s.send(stream, cb)
	}
	for {
		select {
		case cb := <-sink.C():
			if err := next(cb); err != nil {
				return err
			}
		case <-sink.Done():
			if errors.Is(sink.Err(), ErrOverflow) {
				return sinkStatus(ErrOverflow)
			}
			// Flush what was queued before the sink was dropped.
			for {
				select {
				case cb := <-sink.C():
					if err := next(cb); err != nil {
						return err
					}
				default:
					return sinkStatus(sink.Err())
				}
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (s *Server) send(stream grpc.ServerStreamingServer[halpb.ClientCallback], cb hidl.Callback) error {
	m, err := halpb.FromCallback(cb)
	if err != nil {
		s.log.Error("callback not encodable", zap.Error(err))
		return status.Error(codes.Internal, err.Error())
	}
	return stream.Send(m)
}

func sinkStatus(err error) error {
	switch {
	case errors.Is(err, ErrReplaced):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, ErrOverflow):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, fmt.Sprint(err))
}

func statusResponse(st hidl.RequestStatus) *halpb.RequestStatusResponse {
	return &halpb.RequestStatusResponse{Status: halpb.RequestStatus(st)}
}

// PreEnroll serves preEnroll().
func (s *Server) PreEnroll(ctx context.Context, _ *halpb.PreEnrollRequest) (*halpb.PreEnrollResponse, error) {
	return &halpb.PreEnrollResponse{AuthChallenge: s.hal.PreEnroll(ctx)}, nil
}

// Enroll serves enroll(hat, gid, timeoutSec). A hat that is not 69 bytes
// cannot be a HIDL uint8_t[69]: INVALID_ARGUMENT.
func (s *Server) Enroll(ctx context.Context, r *halpb.EnrollRequest) (*halpb.RequestStatusResponse, error) {
	if len(r.GetHat()) != hidl.HATSize {
		return nil, status.Errorf(codes.InvalidArgument, "hat is %d bytes; enroll takes uint8_t[%d]", len(r.GetHat()), hidl.HATSize)
	}
	return statusResponse(s.hal.Enroll(ctx, r.GetHat(), r.GetGid(), r.GetTimeoutSec())), nil
}

// PostEnroll serves postEnroll().
func (s *Server) PostEnroll(ctx context.Context, _ *halpb.PostEnrollRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.PostEnroll(ctx)), nil
}

// GetAuthenticatorId serves getAuthenticatorId().
func (s *Server) GetAuthenticatorId(ctx context.Context, _ *halpb.GetAuthenticatorIdRequest) (*halpb.GetAuthenticatorIdResponse, error) { //nolint:revive // generated name
	return &halpb.GetAuthenticatorIdResponse{AuthenticatorId: s.hal.GetAuthenticatorID(ctx)}, nil
}

// Cancel serves cancel().
func (s *Server) Cancel(ctx context.Context, _ *halpb.CancelRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.Cancel(ctx)), nil
}

// Enumerate serves enumerate().
func (s *Server) Enumerate(ctx context.Context, _ *halpb.EnumerateRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.Enumerate(ctx)), nil
}

// Remove serves remove(gid, fid).
func (s *Server) Remove(ctx context.Context, r *halpb.RemoveRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.Remove(ctx, r.GetGid(), r.GetFid())), nil
}

// SetActiveGroup serves setActiveGroup(gid, storePath).
func (s *Server) SetActiveGroup(ctx context.Context, r *halpb.SetActiveGroupRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.SetActiveGroup(ctx, r.GetGid(), r.GetStorePath())), nil
}

// Authenticate serves authenticate(operationId, gid).
func (s *Server) Authenticate(ctx context.Context, r *halpb.AuthenticateRequest) (*halpb.RequestStatusResponse, error) {
	return statusResponse(s.hal.Authenticate(ctx, r.GetOperationId(), r.GetGid())), nil
}
