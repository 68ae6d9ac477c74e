package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchdogStepsDownOnStalledDisk stalls the leader's raft log writes
// and checks that another node takes over.
func TestWatchdogStepsDownOnStalledDisk(t *testing.T) {
	var stalled atomic.Value // ID whose log writes block
	stalled.Store("")
	base := t.TempDir()
	var nodes []*Cluster
	for i := range 3 {
		cfg := testConfig(t, filepath.Join(base, fmt.Sprint(i)))
		cfg.ID = fmt.Sprintf("n%d", i)
		cfg.Bootstrap = false
		cfg.FsyncStallTimeout = 300 * time.Millisecond
		id := cfg.ID
		cfg.stallHook = func() {
			for stalled.Load() == id {
				time.Sleep(5 * time.Millisecond)
			}
		}
		c, err := New(cfg, newCounterFSM(cfg.DataDir, false))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c)
	}
	t.Cleanup(func() {
		stalled.Store("")
		for _, c := range nodes {
			c.Shutdown()
		}
	})
	var servers []Server
	for _, c := range nodes {
		servers = append(servers, Server{ID: c.ID(), Address: c.RaftAddr(), Voter: true})
	}
	for _, c := range nodes {
		if err := c.BootstrapServers(servers); err != nil {
			t.Fatal(err)
		}
	}
	leader := waitLeaderAmong(t, nodes, "")
	apply(t, leader, "x")

	stalled.Store(leader.ID())
	go func() {
		// A write the stalled leader cannot persist.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		leader.Apply(ctx, []byte("y"))
	}()
	next := waitLeaderAmong(t, nodes, leader.ID())
	apply(t, next, "z")
	stalled.Store("")
	deadline := time.Now().Add(5 * time.Second)
	for leader.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("the stalled leader did not step down after its disk recovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeaderAmong waits until a node other than not leads.
func waitLeaderAmong(t *testing.T, nodes []*Cluster, not string) *Cluster {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range nodes {
			if c.IsLeader() && c.ID() != not {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader other than %q", not)
	return nil
}
