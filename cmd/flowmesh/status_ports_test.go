package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/rpc/rpctest"
	"github.com/flowmesh/flowmesh/storage"
)

// TestClusterStatusThroughPublishedPorts: nodes that advertise gRPC
// addresses this host cannot reach (as docker compose's node1:7400 seen
// from the host) but are reachable at other addresses (the published
// ports): cluster status given those addresses shows the three nodes
// healthy and exits 0 (it used to add three "unreachable" rows and exit
// 1). Given one of them, the two it cannot ask are named with their
// advertised address and the command exits 1.
func TestClusterStatusThroughPublishedPorts(t *testing.T) {
	n := 0
	nodes := rpctest.StartCluster(t, 3, func(c *storage.Config) {
		n++ // closed ports on loopback: refused at once, like a name that does not resolve
		c.GRPCAddr = fmt.Sprintf("127.0.0.1:%d", n)
	})
	published := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	for _, nd := range nodes {
		rpctest.WaitFor(t, 30*time.Second, nd.ID+" ready", func() error {
			if r := nd.Store.Ready(t.Context()); !r.Ready {
				return fmt.Errorf("not ready: %s", r.Reason)
			}
			return nil
		})
	}

	var rows []map[string]any
	decode(t, must(t, 0, "", "--endpoints", strings.Join(published, ","), "cluster", "status", "-o", "json").stdout, &rows)
	if len(rows) != 3 {
		t.Fatalf("status rows = %v, want the 3 nodes", rows)
	}
	for _, r := range rows {
		if r["health"] != "healthy" || r["error"] != nil {
			t.Errorf("row %v: want healthy", r)
		}
	}
	if out := must(t, 0, "", "--endpoints", strings.Join(published, ","), "cluster", "status").stdout; strings.Contains(out, "unreachable") {
		t.Errorf("status table:\n%s", out)
	}

	r := must(t, 1, "", "--endpoints", published[0], "cluster", "status")
	for _, nd := range nodes[1:] {
		if !strings.Contains(r.stdout, nd.ID) {
			t.Errorf("table does not name %s, which it could not ask:\n%s", nd.ID, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "--endpoints") {
		t.Errorf("stderr does not say to give a reachable address in --endpoints: %s", r.stderr)
	}
}

// TestClusterStatusSaysRemoved: a follower removed with remove-peer while
// running shows in cluster status as removed and awaiting re-add (the
// leader adds it back a minute later), with the reason, instead of a
// healthy-looking row.
func TestClusterStatusSaysRemoved(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	gone := rpctest.Followers(nodes, leader)[0]
	must(t, 0, "", "--endpoints", leader.Addr, "cluster", "remove-peer", gone.ID)

	var row map[string]any
	rpctest.WaitFor(t, 30*time.Second, gone.ID+" reported removed", func() error {
		var rows []map[string]any
		decode(t, must(t, 0, "", "--endpoints", gone.Addr, "cluster", "status", "-o", "json").stdout, &rows)
		for _, r := range rows {
			if r["node_id"] == gone.ID {
				row = r
			}
		}
		if row == nil || row["readiness"] != "removed" || row["awaiting_readd"] != true || row["ready"] == true {
			return fmt.Errorf("row %v", row)
		}
		return nil
	})
	if reason, _ := row["not_ready_reason"].(string); !strings.Contains(reason, "not in the raft configuration") {
		t.Errorf("not_ready_reason %q does not say it is out of the configuration", reason)
	}
	out := must(t, 0, "", "--endpoints", gone.Addr, "cluster", "status").stdout
	if !strings.Contains(out, "removed, awaiting re-add") || !strings.Contains(out, gone.ID+": not ready: ") {
		t.Errorf("status table does not say %s is removed and awaiting re-add:\n%s", gone.ID, out)
	}
}
