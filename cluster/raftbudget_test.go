package cluster

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// start3 forms a three-node cluster, over mutual TLS when useTLS, with lim
// on every node, and returns the nodes, their FSMs and a dial function of
// an authenticated peer (TLS with the peer certificate) or a plain one.
func start3(t *testing.T, useTLS bool, lim RaftLimits) ([]*Cluster, []*counterFSM, func(addr string) (net.Conn, error)) {
	t.Helper()
	var srv, cli *tls.Config
	if useTLS {
		srv, cli, _ = peerTLS(t)
	}
	var nodes []*Cluster
	var fsms []*counterFSM
	for i := 1; i <= 3; i++ {
		cfg := testConfig(t, t.TempDir())
		cfg.ID = fmt.Sprintf("n%d", i)
		cfg.Bootstrap = i == 1
		cfg.PeerServerTLS, cfg.PeerClientTLS = srv, cli
		cfg.RaftLimits = lim
		fsm := newCounterFSM(t.TempDir(), false)
		var c *Cluster
		if i == 1 {
			c = startNode(t, cfg, fsm)
		} else {
			var err error
			if c, err = New(cfg, fsm); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Shutdown() })
			if err := nodes[0].Raft().AddVoter(raft.ServerID(cfg.ID), raft.ServerAddress(c.RaftAddr()), 0, 5*time.Second).Error(); err != nil {
				t.Fatalf("AddVoter: %v", err)
			}
		}
		nodes = append(nodes, c)
		fsms = append(fsms, fsm)
	}
	dial := func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
	if useTLS {
		dial = func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cli)
		}
	}
	return nodes, fsms, dial
}

// replicates applies a command on the leader and waits until every FSM has it.
func replicates(t *testing.T, nodes []*Cluster, fsms []*counterFSM, cmd string) {
	t.Helper()
	want := apply(t, nodes[0], cmd).(int)
	for _, f := range fsms {
		waitCount(t, f, want)
	}
}

// waitClosed waits (bounded) until the node has closed conn.
func waitClosed(t *testing.T, conn net.Conn, within time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 1024)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		return
	}
}

func waitStat(t *testing.T, c *Cluster, what string, ok func(RaftTransportStats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(c.RaftTransportStats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, c.RaftTransportStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRaftTransportBudgets attacks a follower's raft port, over plain TCP
// and as an authenticated TLS peer: a request declaring a 512 MiB field
// followed by 64 MiB of it is refused without the node's heap growing by
// that much, a request that stalls midway and a connection that sits idle
// are closed after their deadlines, and a flood of connections beyond
// MaxConnections is refused at once; the cluster keeps replicating to the
// attacked follower throughout.
func TestRaftTransportBudgets(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			lim := RaftLimits{MaxConnections: 12, IdleTimeout: 2 * time.Second, ReadTimeout: time.Second}
			nodes, fsms, dial := start3(t, useTLS, lim)
			replicates(t, nodes, fsms, "formed")
			target := nodes[1]
			addr := target.RaftAddr()

			// Oversized: an entry whose Data is a bin32 of 512 MiB, then 64
			// MiB of it.
			chunk := make([]byte, 1<<20)
			conn, err := dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			hdr := []byte{0, 0x81, 0xa7, 'E', 'n', 't', 'r', 'i', 'e', 's', 0x91, 0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0x20, 0, 0, 0}
			_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			sent := 0
			if _, err := conn.Write(hdr); err == nil {
				for sent < 64<<20 {
					n, err := conn.Write(chunk)
					sent += n
					if err != nil {
						break
					}
				}
			}
			// Let the node read what was sent before measuring.
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, _ = conn.Read(make([]byte, 1))
			runtime.ReadMemStats(&after)
			conn.Close()
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Errorf("heap allocations grew by %d MiB while %d MiB of an oversized request were sent, want < 32 MiB", grew>>20, sent>>20)
			}
			waitStat(t, target, "oversized request refused", func(s RaftTransportStats) bool { return s.RefusedTooLarge >= 1 })
			replicates(t, nodes, fsms, "after oversized")

			// A request that stalls midway, and a connection that sends nothing.
			stall, err := dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer stall.Close()
			if _, err := stall.Write([]byte{0, 0x82, 0xa4, 'T', 'e', 'r', 'm'}); err != nil {
				t.Fatal(err)
			}
			idle, err := dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			waitClosed(t, stall, 15*time.Second)
			waitClosed(t, idle, 15*time.Second)
			waitStat(t, target, "stalled request closed", func(s RaftTransportStats) bool { return s.ClosedStalled >= 1 })
			waitStat(t, target, "idle connection closed", func(s RaftTransportStats) bool { return s.ClosedIdle >= 1 })

			// Flood: raw TCP connections (a TLS handshake never starts)
			// beyond the budget are closed at once.
			var flood []net.Conn
			for range 40 {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				flood = append(flood, c)
				defer c.Close()
			}
			waitStat(t, target, "flood refused", func(s RaftTransportStats) bool {
				return s.Refused >= 40-uint64(lim.MaxConnections) && s.Open <= lim.MaxConnections
			})
			for i := range 5 {
				replicates(t, nodes, fsms, fmt.Sprint("during flood ", i))
			}
			refusedOne := false
			for _, c := range flood {
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err == io.EOF {
					refusedOne = true
				}
			}
			if !refusedOne {
				t.Error("no flood connection was closed at once")
			}
			t.Logf("stats %+v", target.RaftTransportStats())
		})
	}
}
