package rpc_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// node is a real embedded node served over loopback gRPC.
type node struct {
	store   *storage.Storage
	server  *rpc.Server
	addr    string
	offset  atomic.Int64 // added to the node's clock by advance
	metrics *countingMetrics
}

func (n *node) advance(d time.Duration) { n.offset.Add(int64(d)) }

// startNode starts a single-node storage.Storage in a temp dir and serves it
// with rpc.Server on 127.0.0.1:0; both stop when the test ends.
func startNode(t testing.TB) *node {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with mod adjusting the server's config.
func startNodeWith(t testing.TB, mod func(*rpc.Config)) *node {
	t.Helper()
	n := &node{metrics: &countingMetrics{}}
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = quietLogger()
	cfg.Clock = func() time.Time { return time.Now().Add(time.Duration(n.offset.Load())) }
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n.store = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("storage Stop: %v", err)
		}
	})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = lis.Addr().String()
	rcfg := rpc.Config{Logger: cfg.Logger, Metrics: n.metrics, GRPCAddr: n.addr}
	if mod != nil {
		mod(&rcfg)
	}
	n.server = rpc.NewServer(rcfg, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.server.Serve(lis)
	}()
	t.Cleanup(func() {
		n.server.Stop() // registered after the storage's: runs before it
		<-done
	})
	return n
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newClient returns a client for n, closed when the test ends.
func (n *node) newClient(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type countingMetrics struct {
	mu    sync.Mutex
	calls map[string]map[codes.Code]int
}

func (m *countingMetrics) observe(method string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls == nil {
		m.calls = map[string]map[codes.Code]int{}
	}
	if m.calls[method] == nil {
		m.calls[method] = map[codes.Code]int{}
	}
	m.calls[method][status.Code(err)]++
}

func (m *countingMetrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, err)
		return resp, err
	}
}

func (m *countingMetrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		m.observe(info.FullMethod, err)
		return err
	}
}

func (m *countingMetrics) count(method string, code codes.Code) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method][code]
}

// newClientToken returns a client for n sending token, closed when the
// test ends.
func (n *node) newClientToken(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, Token: token, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
