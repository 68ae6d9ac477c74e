// Package grpcmetrics provides the standard gRPC server metrics
// (grpc_server_started_total, grpc_server_handled_total by grpc_code,
// grpc_server_msg_received_total, grpc_server_msg_sent_total and the
// grpc_server_handling_seconds histogram, all labelled grpc_type,
// grpc_service and grpc_method), named, labelled and described as
// go-grpc-middleware's Prometheus provider does (dashboards and alert rules
// use them), as an rpc.Metrics. Each method's series are resolved once
// (server.go) rather than looked up by label values on every call. It is a
// package of its own so that only the node binary links gRPC metrics:
// internal/metrics, which the embeddable storage package imports for its
// node collector, stays free of gRPC.
package grpcmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Server is the gRPC server metrics: a prometheus.Collector to register and
// a pair of interceptors (rpc.Metrics) for the server to run outermost, so
// they count the code the caller gets.
type Server struct {
	m *grpcMetrics
}

var _ prometheus.Collector = (*Server)(nil)

// New returns the metrics with the handling-time histogram's buckets from
// 50µs to ~26s: a local KV put takes well under a millisecond, a long-poll
// Reserve up to its wait.
func New() *Server {
	return &Server{m: newGRPCMetrics(prometheus.ExponentialBuckets(50e-6, 2, 20))}
}

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) { s.m.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) { s.m.Collect(ch) }

// UnaryServerInterceptor counts and times unary calls.
func (s *Server) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return s.m.unaryInterceptor
}

// StreamServerInterceptor counts and times streaming calls and their
// messages.
func (s *Server) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return s.m.streamInterceptor
}
