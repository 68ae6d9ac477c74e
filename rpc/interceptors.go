package rpc

import (
	"context"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// The interceptors are the one path every call takes: they recover panics
// into Internal, authorize the call when Config.Auth is set (auth.go),
// forward a unary call the local node refused with NotLeader
// to the leader (forward.go), translate handler errors to statuses
// (errors.go) and log server-side failures. Metrics' interceptors run
// outside these (server.go).

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, s.panicked(info.FullMethod, r)
		}
		s.finish(ctx, info.FullMethod, err)
	}()
	if s.cfg.Auth != nil {
		if ctx, err = s.authorize(ctx, info.FullMethod, req); err != nil {
			return nil, statusError(ctx, err)
		}
	}
	if err = s.admit(ctx, info.FullMethod, req); err != nil {
		return nil, statusError(ctx, err)
	}
	resp, err = handler(ctx, req)
	if err != nil && !s.cfg.DisableForwarding {
		if addr, ok := leaderOf(ctx, err); ok {
			return s.fwd.forwardUnary(ctx, addr, info.FullMethod, req)
		}
	}
	return resp, statusError(ctx, err)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	if info.FullMethod != pb.PipeService_Call_FullMethodName {
		// The pipe stops by itself: its calls in flight finish (pipe.go).
		defer context.AfterFunc(s.stopping, cancel)()
	}
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
		s.finish(ctx, info.FullMethod, err)
	}()
	var stream grpc.ServerStream = &serverStream{ServerStream: ss, ctx: ctx}
	if s.cfg.Auth != nil {
		if a, ok := methods[info.FullMethod]; ok && a.scope != nil {
			// The request names the path: check it when it arrives.
			stream = &authStream{ServerStream: stream, s: s, method: info.FullMethod}
		} else {
			if ctx, err = s.authorize(ctx, info.FullMethod, nil); err != nil {
				return statusError(ctx, err)
			}
			stream = &serverStream{ServerStream: ss, ctx: ctx}
		}
	}
	err = handler(srv, stream)
	if err != nil && s.stopping.Err() != nil && ss.Context().Err() == nil {
		// Ended by the server's stop, not by the caller: tell the client
		// to resume elsewhere.
		err = flowmesh.ErrStopped
	}
	return statusError(ctx, err)
}

// serverStream gives a stream handler the stream's context as ended by the
// server's stop as well as by the caller.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (s *Server) panicked(method string, r any) error {
	s.log.Error("rpc: handler panicked", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "flowmesh: internal error")
}

func (s *Server) finish(ctx context.Context, method string, err error) {
	code := status.Code(err)
	if code == codes.Internal || code == codes.Unknown || code == codes.DataLoss {
		s.log.ErrorContext(ctx, "rpc: call failed", "method", method, "code", code.String(), "error", err)
	}
}
