package cluster

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// silentPeer accepts gossip connections and never answers, so a join to it
// waits for memberlist's TCP timeout; release closes what it accepted.
func silentPeer(t *testing.T) (addr string, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  sync.WaitGroup
	)
	done.Add(1)
	go func() {
		defer done.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			ln.Close()
			done.Wait()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(release)
	return ln.Addr().String(), release
}

// JoinContext returns when ctx ends while the join goes on; the join's
// goroutine belongs to the membership, and Shutdown waits for it (up to
// memberlist's TCP timeout, 1 s on loopback): no join runs once Shutdown
// returned, and none is left behind. After Shutdown, JoinContext starts
// nothing.
func TestJoinContextOwnsItsGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	addr, release := silentPeer(t)
	defer release()
	m, err := NewMembership(MembershipConfig{
		Name: "j1", GossipOptions: GossipOptions{BindAddr: "127.0.0.1:0"}, RaftAddr: "127.0.0.1:1", GRPCAddr: "127.0.0.1:2",
		Local: true, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if n, err := m.JoinContext(ctx, []string{addr}); !errors.Is(err, context.DeadlineExceeded) || n != 0 {
		t.Fatalf("JoinContext to a silent peer = %d, %v; want 0 and the context's deadline", n, err)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "cluster.(*Membership).Join(") {
		t.Fatalf("a join still runs after Shutdown returned:\n%s", stacks)
	}
	if _, err := m.JoinContext(context.Background(), []string{addr}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("JoinContext after Shutdown = %v, want ErrShutdown", err)
	}
}
