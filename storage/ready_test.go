package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/internal/freeport"
	"github.com/flowmesh/flowmesh/storage"
)

// readyNow asks Ready without letting it wait for the node to apply.
func readyNow(s *storage.Storage) cluster.Readiness {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	return s.Ready(ctx)
}

func waitReady(t *testing.T, d time.Duration, n *clusterNode) {
	t.Helper()
	waitFor(t, d, n.id+" ready", func() error {
		if r := n.s.Ready(context.Background()); !r.Ready {
			return fmt.Errorf("%s: %s", r.State, r.Reason)
		}
		return nil
	})
}

func followers(nodes []*clusterNode, leader *clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, n := range nodes {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

// A follower stopped while the others take many writes (far more than the
// leader keeps in its log, so it needs the leader's snapshot, then
// thousands of entries more) is not ready after its restart until it has
// applied the leader's index: its own commit index stops at its last log
// entry, so by it alone the follower would look current.
func TestReadyFollowerCatchesUp(t *testing.T) {
	nodes := startCluster(t, 3, func(c *storage.Config) {
		c.Raft.SnapshotThreshold = 100 // TrailingLogs 125
		c.RaftAddr = freeport.Addr(t)
	})
	leader := leaderOf(t, nodes)
	for _, n := range nodes {
		waitReady(t, 30*time.Second, n)
	}
	f := followers(nodes, leader)[0]
	path := putOnLeader(t, leader, "k0", "v")
	if err := f.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Writes in parallel (group commit coalesces some), then a snapshot
	// that compacts the log past the follower's last entry, then more
	// entries one at a time for the follower to replicate after it.
	put := func(from, to, workers int) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += workers {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := leader.s.KVManager().Put(ctx, path, fmt.Sprintf("k%d", i), []byte(strings.Repeat("x", 512)), flowmesh.KVPutOptions{})
					cancel()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	put(0, 1500, 8)
	if err := leader.s.Cluster().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	put(1500, 4500, 4)
	want := leader.s.Cluster().AppliedIndex()
	other := followers(nodes, leader)[1]
	waitFor(t, 60*time.Second, "the leader's applied index in gossip", func() error {
		for _, m := range other.s.Members() {
			if m.ID == leader.id {
				if m.AppliedIndex >= want {
					return nil
				}
				return fmt.Errorf("%s gossips applied %d, want %d", leader.id, m.AppliedIndex, want)
			}
		}
		return fmt.Errorf("%s not among %s's members", leader.id, other.id)
	})
	first, err := leader.s.Cluster().FirstLogIndex()
	if err != nil {
		t.Fatal(err)
	}
	st, err := leader.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader applied %d, log from %d, snapshot at %d", want, first, st.LastSnapshotIndex)

	again := startClusterNode(t, f.cfg)
	seen := map[string]int{}
	var catching cluster.Readiness
	deadline := time.Now().Add(60 * time.Second)
	for {
		before := again.s.Cluster().AppliedIndex()
		r := readyNow(again.s)
		after := again.s.Cluster().AppliedIndex()
		if r.Ready {
			// Ready only once it has applied what the leader had.
			if after < want {
				t.Fatalf("ready at applied %d (before the call %d), the leader's index is %d", after, before, want)
			}
			break
		}
		seen[r.State]++
		if r.State == cluster.ReadyStateCatchingUp && r.Behind() > 0 && catching.Target == 0 {
			catching = r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 60 s: %s: %s", r.State, r.Reason)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("states before ready: %v; catching up seen as %q", seen, catching.Reason)
	if catching.Target < want || !strings.Contains(catching.Reason, fmt.Sprintf("catching up: applied %d of %d", catching.Applied, catching.Target)) {
		t.Errorf("never reported catching up to the leader's index %d: %+v (states %v)", want, catching, seen)
	}
	if got := again.s.Cluster().AppliedIndex(); got < want {
		t.Errorf("ready at applied %d < %d", got, want)
	}
	waitStaleRead(t, again, path, "k4499", strings.Repeat("x", 512))
}

// A peer removed with remove-peer while it was down, then started again,
// is not ready and says it seems removed (it hears from no leader while
// gossip names one); a peer removed while running knows it is out of the
// configuration and says so. The leader stays ready.
func TestReadyRemovedPeer(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	for _, n := range nodes {
		waitReady(t, 30*time.Second, n)
	}
	fs := followers(nodes, leader)
	down, running := fs[0], fs[1]
	if err := down.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.s.RemovePeer(ctx, down.id); err != nil {
		t.Fatalf("RemovePeer %s: %v", down.id, err)
	}
	again := startClusterNode(t, down.cfg)
	// The leader adds it back a minute after its removal: these waits end
	// well before that.
	waitFor(t, 45*time.Second, "the restarted removed peer to say it seems removed", func() error {
		r := readyNow(again.s)
		if r.Ready {
			return fmt.Errorf("ready")
		}
		if r.State != cluster.ReadyStateNoLeader || !r.AwaitingReadd || !strings.Contains(r.Reason, "removed from the configuration?") ||
			!strings.Contains(r.Reason, "gossip names "+leader.id+" the leader") {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})

	if err := leader.s.RemovePeer(ctx, running.id); err != nil {
		t.Fatalf("RemovePeer %s: %v", running.id, err)
	}
	waitFor(t, 30*time.Second, "the running removed peer to say it is removed", func() error {
		r := readyNow(running.s)
		if r.Ready || r.State != cluster.ReadyStateRemoved || !r.AwaitingReadd ||
			!strings.Contains(r.Reason, "not in the raft configuration") || r.Summary() != "removed, awaiting re-add" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
	if r := leader.s.Ready(ctx); !r.Ready {
		t.Errorf("leader not ready: %+v", r)
	}
}

// A stopped node is not ready; a single embedded node (no gossip) is ready
// once it leads.
func TestReadyEmbedded(t *testing.T) {
	s, err := storage.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Ready(context.Background()); r.Ready || r.State != cluster.ReadyStateShutdown {
		t.Errorf("before Start: %+v, want shutdown", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r := s.Ready(ctx); !r.Ready || r.State != cluster.ReadyStateReady || r.Reason != "" {
		t.Errorf("started: %+v, want ready", r)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r := s.Ready(ctx); r.Ready || r.State != cluster.ReadyStateShutdown {
		t.Errorf("stopped: %+v, want shutdown", r)
	}
}

// A leader that removes itself shuts its raft down (raft's
// ShutdownOnRemove): it says it was removed and must be restarted, and
// the other two elect a leader and are ready.
func TestReadyRemovedLeader(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.s.RemovePeer(ctx, leader.id); err != nil {
		t.Fatalf("RemovePeer %s (itself): %v", leader.id, err)
	}
	waitFor(t, 30*time.Second, "the removed leader to say it must be restarted", func() error {
		r := readyNow(leader.s)
		if r.Ready || r.State != cluster.ReadyStateRemoved || !strings.Contains(r.Reason, "restart it to rejoin") {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
	for _, n := range followers(nodes, leader) {
		waitReady(t, 30*time.Second, n)
	}
}
