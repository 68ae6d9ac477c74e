package client_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// testNode is a real embedded node served by rpc.Server on loopback.
type testNode struct {
	store  *storage.Storage
	addr   string
	server *rpc.Server
	rc     rpc.Config
	done   chan struct{}
}

// startNode starts a node in dir; stop stops the server, then the node.
func startNode(dir string) (n *testNode, stop func(), err error) {
	return startNodeWith(dir, rpc.Config{})
}

// startNodeWith is startNode with the server configured as rc (Logger and
// GRPCAddr are set here).
func startNodeWith(dir string, rc rpc.Config) (n *testNode, stop func(), err error) {
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Stop(ctx)
		return nil, nil, err
	}
	n = &testNode{store: s, addr: lis.Addr().String(), rc: rc}
	n.serve(lis)
	return n, func() {
		n.stopServer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Stop(ctx)
	}, nil
}

func (n *testNode) serve(lis net.Listener) {
	rc := n.rc
	rc.Logger, rc.GRPCAddr = slog.New(slog.DiscardHandler), n.addr
	n.server = rpc.NewServer(rc, n.store)
	n.done = make(chan struct{})
	go func(srv *rpc.Server, done chan struct{}) {
		defer close(done)
		srv.Serve(lis)
	}(n.server, n.done)
}

func (n *testNode) stopServer() {
	n.server.Stop()
	<-n.done
}

func newNode(t *testing.T) *testNode {
	t.Helper()
	n, stop, err := startNode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return n
}

func newClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{addr}, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxRetries: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
