// Package rpctest runs FlowMesh nodes in-process for tests: each a
// storage.Storage served by an rpc.Server on loopback, alone or as a
// cluster formed by gossip with BootstrapExpect.
package rpctest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/internal/freeport"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// The server takes the embedded node directly.
var _ rpc.Node = (*storage.Storage)(nil)

// Node is one in-process node.
type Node struct {
	Store    *storage.Storage
	Server   *rpc.Server
	Addr     string // gRPC
	ID       string
	Gossip   string
	stopOnce sync.Once
	stopped  atomic.Bool
	done     chan struct{}
}

// Stop stops the node's server and storage (a crash as clients see it);
// it is idempotent and also runs at the test's end.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		n.stopped.Store(true)
		n.Server.Stop()
		<-n.done
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Store.Stop(ctx)
	})
}

// Stopped reports whether Stop ran.
func (n *Node) Stopped() bool { return n.stopped.Load() }

// StartCluster starts n fresh nodes with BootstrapExpect n, all joining
// each other, and waits until they agree on a leader. mod, when not nil,
// adjusts each node's storage config. Every node stops when the test ends.
func StartCluster(t testing.TB, n int, mod func(*storage.Config)) []*Node {
	t.Helper()
	return StartClusterWith(t, n, mod, nil)
}

// StartClusterWith is StartCluster with rmod, when not nil, adjusting each
// node's rpc.Config.
func StartClusterWith(t testing.TB, n int, mod func(*storage.Config), rmod func(*rpc.Config)) []*Node {
	t.Helper()
	base := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	var gossip []string
	lis := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = l
		gossip = append(gossip, freeport.Addr(t))
	}
	nodes := make([]*Node, n)
	for i := range n {
		cfg := storage.DefaultConfig()
		cfg.DataDir = filepath.Join(base, "n"+strconv.Itoa(i))
		cfg.GRPCAddr = lis[i].Addr().String()
		cfg.Gossip.BindAddr = gossip[i]
		cfg.Gossip.Join = gossip
		cfg.Gossip.BootstrapExpect = n
		cfg.Logger = logger
		if mod != nil {
			mod(cfg)
		}
		nodes[i] = serve(t, cfg, lis[i], rmod)
	}
	WaitFor(t, 20*time.Second, "a leader known to every node", func() error {
		leader := ""
		for _, nd := range nodes {
			st, err := nd.Store.Status()
			if err != nil {
				return err
			}
			if st.LeaderID == "" || leader != "" && st.LeaderID != leader {
				return fmt.Errorf("%s sees leader %q", st.ID, st.LeaderID)
			}
			leader = st.LeaderID
			if len(st.Servers) != n {
				return fmt.Errorf("%s: %d servers", st.ID, len(st.Servers))
			}
		}
		return nil
	})
	return nodes
}

// serve starts the storage for cfg and serves it on lis.
func serve(t testing.TB, cfg *storage.Config, lis net.Listener, rmod func(*rpc.Config)) *Node {
	t.Helper()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Store: s, Addr: lis.Addr().String(), ID: st.ID, Gossip: cfg.Gossip.BindAddr, done: make(chan struct{})}
	rcfg := rpc.Config{Logger: cfg.Logger, GRPCAddr: n.Addr, Version: "test"}
	if rmod != nil {
		rmod(&rcfg)
	}
	n.Server = rpc.NewServer(rcfg, s)
	s.SetRemoveSelf(n.Server.RemoveSelf(n.ID))
	go func() {
		defer close(n.done)
		n.Server.Serve(lis)
	}()
	t.Cleanup(n.Stop)
	return n
}

// Leader returns the running node that leads now, waiting for one.
func Leader(t testing.TB, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	WaitFor(t, 20*time.Second, "a leader", func() error {
		for _, n := range nodes {
			if n.Stopped() {
				continue
			}
			if c := n.Store.Cluster(); c != nil && c.IsLeader() {
				leader = n
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	return leader
}

// Followers returns the running nodes other than leader.
func Followers(nodes []*Node, leader *Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if n != leader && !n.Stopped() {
			out = append(out, n)
		}
	}
	return out
}

// Addrs returns the nodes' gRPC addresses.
func Addrs(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Addr)
	}
	return out
}

// WaitFor polls cond every 20ms until it returns nil, failing the test
// with what after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
