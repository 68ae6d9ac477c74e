package rpc_test

import (
	"net"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/flowmesh/flowmesh/rpc"
)

// TestConnectionBudgets: connections beyond MaxConnections are closed at
// once, and connections that never finish their handshake are closed after
// HandshakeTimeout, after which a real client is served.
func TestConnectionBudgets(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(rpc.Config{Logger: quietLogger(), MaxConnections: 3, HandshakeTimeout: 300 * time.Millisecond}, panicNode{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	// Five connections that send nothing: the last two are over budget.
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				ne, ok := err.(net.Error)
				return !(ok && ne.Timeout())
			}
		}
	}
	for i, c := range conns[3:] {
		if !closedWithin(c, 2*time.Second) {
			t.Errorf("connection %d over the budget of 3 is still open", i+4)
		}
	}
	waitFor(t, 5*time.Second, "the refused connections counted", func() bool {
		open, max, refused := srv.ConnStats()
		return open == 3 && max == 3 && refused == 2
	})
	for i, c := range conns[:3] {
		if !closedWithin(c, 5*time.Second) {
			t.Errorf("silent connection %d is open past the handshake timeout", i+1)
		}
	}
	waitFor(t, 5*time.Second, "the silent connections released", func() bool {
		open, _, _ := srv.ConnStats()
		return open == 0
	})
	cc := dial(t, addr)
	if _, err := healthpb.NewHealthClient(cc).Check(ctxFor(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a client after the flood: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
