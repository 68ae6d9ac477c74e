package main

import (
	"fmt"
	"strings"
	"testing"

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
