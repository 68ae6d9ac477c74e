package grpcmetrics

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcMetrics are the standard gRPC server metrics, with the names, labels
// and semantics of go-grpc-middleware's Prometheus provider (dashboards and
// alert rules use them): grpc_server_started_total,
// grpc_server_handled_total (by grpc_code), grpc_server_msg_received_total,
// grpc_server_msg_sent_total and grpc_server_handling_seconds, labelled
// grpc_type, grpc_service and grpc_method.
//
// Unlike the provider, a method's series are resolved once, not looked up
// by their label values five times per call: on a node under kv-put load
// those lookups (label hashing, slices, a reporter per call) were ~4% of
// the leader's CPU.
type grpcMetrics struct {
	started  *prometheus.CounterVec
	handled  *prometheus.CounterVec
	received *prometheus.CounterVec
	sent     *prometheus.CounterVec
	handling *prometheus.HistogramVec

	mu      sync.RWMutex
	methods map[methodKey]*methodSeries
}

type methodKey struct {
	typ        string
	fullMethod string
}

// methodSeries are one method's series, each resolved on first use (as
// the provider does, a series appears only once it counted something);
// handled is per status code.
type methodSeries struct {
	m        *grpcMetrics
	labels   [3]string // grpc_type, grpc_service, grpc_method
	started  prometheus.Counter
	received lazyCounter
	sent     lazyCounter
	handling atomic.Pointer[prometheus.Histogram]
	handled  [maxCode + 1]lazyCounter
}

// lazyCounter is a child of a CounterVec resolved on first use.
type lazyCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

func (l *lazyCounter) inc(vec *prometheus.CounterVec, labels ...string) {
	if c := l.p.Load(); c != nil {
		(*c).Inc()
		return
	}
	c := vec.WithLabelValues(labels...)
	l.p.Store(&c)
	c.Inc()
}

// maxCode is the largest standard status code; others are looked up per call.
const maxCode = codes.Unauthenticated

// gRPC call types, as the grpc_type label spells them.
const (
	typeUnary        = "unary"
	typeClientStream = "client_stream"
	typeServerStream = "server_stream"
	typeBidiStream   = "bidi_stream"
)

func newGRPCMetrics(buckets []float64) *grpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return &grpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: buckets,
		}, labels),
		methods: map[methodKey]*methodSeries{},
	}
}

// Describe implements prometheus.Collector.
func (g *grpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	g.started.Describe(ch)
	g.handled.Describe(ch)
	g.received.Describe(ch)
	g.sent.Describe(ch)
	g.handling.Describe(ch)
}

// Collect implements prometheus.Collector.
func (g *grpcMetrics) Collect(ch chan<- prometheus.Metric) {
	g.started.Collect(ch)
	g.handled.Collect(ch)
	g.received.Collect(ch)
	g.sent.Collect(ch)
	g.handling.Collect(ch)
}

// series returns the series of fullMethod ("/package.Service/Method") called
// as typ. The set is bounded: grpc-go runs interceptors only for the
// methods the server registers.
func (g *grpcMetrics) series(typ, fullMethod string) *methodSeries {
	k := methodKey{typ, fullMethod}
	g.mu.RLock()
	m := g.methods[k]
	g.mu.RUnlock()
	if m != nil {
		return m
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := g.methods[k]; m != nil {
		return m
	}
	service, method := "unknown", "unknown"
	if s, meth, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/"); ok {
		service, method = s, meth
	}
	m = &methodSeries{m: g, labels: [3]string{typ, service, method}}
	m.started = g.started.WithLabelValues(m.labels[:]...)
	g.methods[k] = m
	return m
}

func (m *methodSeries) receivedOne() { m.received.inc(m.m.received, m.labels[:]...) }
func (m *methodSeries) sentOne()     { m.sent.inc(m.m.sent, m.labels[:]...) }

// done counts a finished call with err's status code and times it.
func (m *methodSeries) done(err error, took time.Duration) {
	code := codeOf(err)
	if code <= maxCode {
		m.handled[code].inc(m.m.handled, m.labels[0], m.labels[1], m.labels[2], code.String())
	} else {
		m.m.handled.WithLabelValues(m.labels[0], m.labels[1], m.labels[2], code.String()).Inc()
	}
	h := m.handling.Load()
	if h == nil {
		o := m.m.handling.WithLabelValues(m.labels[:]...).(prometheus.Histogram)
		h = &o
		m.handling.Store(h)
	}
	(*h).Observe(took.Seconds())
}

// codeOf is the status code a caller gets for err, context errors included
// (as grpc-go itself converts them).
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
}

func (g *grpcMetrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	m := g.series(typeUnary, info.FullMethod)
	m.started.Inc()
	m.receivedOne()
	resp, err := handler(ctx, req)
	if err == nil {
		m.sentOne()
	}
	m.done(err, time.Since(start))
	return resp, err
}

func (g *grpcMetrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	typ := typeBidiStream
	switch {
	case info.IsClientStream && !info.IsServerStream:
		typ = typeClientStream
	case !info.IsClientStream && info.IsServerStream:
		typ = typeServerStream
	}
	m := g.series(typ, info.FullMethod)
	m.started.Inc()
	err := handler(srv, &countedStream{ServerStream: ss, m: m})
	m.done(err, time.Since(start))
	return err
}

// countedStream counts a stream's messages that were sent and received.
type countedStream struct {
	grpc.ServerStream
	m *methodSeries
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.m.sentOne()
	}
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.m.receivedOne()
	}
	return err
}
