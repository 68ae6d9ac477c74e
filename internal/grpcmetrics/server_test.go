package grpcmetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeStream is a server stream that receives n messages, then io.EOF,
// and fails sends after sendOK of them.
type fakeStream struct {
	grpc.ServerStream
	n, sendOK int
}

func (s *fakeStream) Context() context.Context { return context.Background() }

func (s *fakeStream) RecvMsg(any) error {
	if s.n == 0 {
		return io.EOF
	}
	s.n--
	return nil
}

func (s *fakeStream) SendMsg(any) error {
	if s.sendOK == 0 {
		return status.Error(codes.Unavailable, "gone")
	}
	s.sendOK--
	return nil
}

// driveInterceptors makes the same calls through a unary and a stream
// interceptor: unary calls ending OK, with a status, with a context error
// and with a plain error; streams of each type with messages both ways.
func driveInterceptors(t *testing.T, unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) {
	t.Helper()
	for _, c := range []struct {
		method string
		err    error
	}{
		{"/flowmesh.v1.KVService/Put", nil},
		{"/flowmesh.v1.KVService/Put", nil},
		{"/flowmesh.v1.KVService/Put", status.Error(codes.NotFound, "no such kv")},
		{"/flowmesh.v1.KVService/Get", context.Canceled},
		{"/flowmesh.v1.KVService/Get", context.DeadlineExceeded},
		{"/flowmesh.v1.QueueService/Ack", errors.New("plain")},
		{"/flowmesh.v1.QueueService/Ack", status.Error(codes.Code(42), "odd code")},
		{"noslash", nil},
	} {
		info := &grpc.UnaryServerInfo{FullMethod: c.method}
		resp, err := unary(context.Background(), "req", info, func(ctx context.Context, req any) (any, error) { return "resp", c.err })
		if err != c.err || (err == nil && resp != "resp") {
			t.Fatalf("%s: interceptor returned %v, %v; want the handler's resp, %v", c.method, resp, err, c.err)
		}
	}
	for _, c := range []struct {
		info *grpc.StreamServerInfo
		err  error
	}{
		{&grpc.StreamServerInfo{FullMethod: "/flowmesh.v1.StreamService/Subscribe", IsServerStream: true}, nil},
		{&grpc.StreamServerInfo{FullMethod: "/flowmesh.v1.StreamService/Subscribe", IsServerStream: true}, status.Error(codes.Canceled, "bye")},
		{&grpc.StreamServerInfo{FullMethod: "/flowmesh.v1.X/Up", IsClientStream: true}, nil},
		{&grpc.StreamServerInfo{FullMethod: "/flowmesh.v1.X/Both", IsClientStream: true, IsServerStream: true}, nil},
	} {
		err := stream(nil, &fakeStream{n: 2, sendOK: 3}, c.info, func(srv any, ss grpc.ServerStream) error {
			for ss.RecvMsg(nil) == nil {
			}
			for range 4 {
				_ = ss.SendMsg(nil)
			}
			return c.err
		})
		if err != c.err {
			t.Fatalf("%s: interceptor returned %v, want the handler's %v", c.info.FullMethod, err, c.err)
		}
	}
}

// TestGRPCMetricsMatchMiddleware makes the same calls through our
// interceptors and go-grpc-middleware's Prometheus provider's: every
// series, its labels, help text and count are the same (durations aside).
func TestGRPCMetricsMatchMiddleware(t *testing.T) {
	buckets := prometheus.ExponentialBuckets(50e-6, 2, 20)
	ours := newGRPCMetrics(buckets)
	driveInterceptors(t, ours.unaryInterceptor, ours.streamInterceptor)
	theirs := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(buckets)))
	driveInterceptors(t, theirs.UnaryServerInterceptor(), theirs.StreamServerInterceptor())

	got, want := exposition(t, ours), exposition(t, theirs)
	if !slices.Equal(got, want) {
		t.Errorf("our exposition differs from the middleware's:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if len(want) < 20 {
		t.Errorf("only %d lines compared", len(want))
	}
}

// exposition returns c's metrics, one line per series with its labels and
// count, without what depends on how long calls took (bucket counts, sums).
func exposition(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		lines = append(lines, "# "+mf.GetName()+" "+mf.GetType().String()+" "+mf.GetHelp())
		for _, m := range mf.GetMetric() {
			var l []string
			for _, lp := range m.GetLabel() {
				l = append(l, lp.GetName()+"="+lp.GetValue())
			}
			s := mf.GetName() + "{" + strings.Join(l, ",") + "}"
			if h := m.GetHistogram(); h != nil {
				s += fmt.Sprintf(" count %d buckets %d", h.GetSampleCount(), len(h.GetBucket()))
			} else {
				s += fmt.Sprintf(" %g", m.GetCounter().GetValue())
			}
			lines = append(lines, s)
		}
	}
	return lines
}

// BenchmarkGRPCUnaryInterceptor is the cost of the metrics of one unary
// call: ours against go-grpc-middleware's provider, which the node used
// before.
func BenchmarkGRPCUnaryInterceptor(b *testing.B) {
	buckets := prometheus.ExponentialBuckets(50e-6, 2, 20)
	for _, c := range []struct {
		name  string
		unary grpc.UnaryServerInterceptor
	}{
		{"ours", newGRPCMetrics(buckets).unaryInterceptor},
		{"middleware", grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(buckets))).UnaryServerInterceptor()},
	} {
		b.Run(c.name, func(b *testing.B) {
			info := &grpc.UnaryServerInfo{FullMethod: "/flowmesh.v1.KVService/Put"}
			handler := func(ctx context.Context, req any) (any, error) { return req, nil }
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := c.unary(ctx, "req", info, handler); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
