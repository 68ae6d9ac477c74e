package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestClusterCommands runs the cluster commands against three in-process
// nodes: members, status of every node, transfer-leader, a snapshot save
// and restore round trip, and leave of a follower named by ID.
func TestClusterCommands(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	followers := rpctest.Followers(nodes, leader)
	ep := followers[0].Addr
	fm := func(want int, args ...string) result {
		t.Helper()
		return must(t, want, "", append([]string{"--endpoints", ep}, args...)...)
	}

	var members []map[string]any
	decode(t, fm(0, "cluster", "members", "-o", "json").stdout, &members)
	leaders := 0
	for _, m := range members {
		if m["leader"] == true {
			leaders++
		}
		if m["voter"] != true || m["status"] != "alive" {
			t.Errorf("member %v: want an alive voter", m)
		}
	}
	if len(members) != 3 || leaders != 1 {
		t.Errorf("members = %v", members)
	}
	if out := fm(0, "cluster", "members").stdout; !strings.Contains(out, leader.ID) || !strings.Contains(out, "voter") {
		t.Errorf("members table:\n%s", out)
	}

	// join of a member's own gossip address: it answers, nothing changes.
	if out := fm(0, "cluster", "join", leader.Gossip).stdout; !strings.Contains(out, "joined: 1 of 1") {
		t.Errorf("cluster join %s: %q", leader.Gossip, out)
	}

	var versions struct {
		Client buildinfo.Info
		Nodes  []struct{ ID, Status, Version string }
	}
	decode(t, fm(0, "version", "--server", "-o", "json").stdout, &versions)
	if versions.Client.Version != buildinfo.Version() || versions.Client.GoVersion == "" || len(versions.Nodes) != 3 || versions.Nodes[0].ID == "" {
		t.Errorf("version --server -o json = %+v", versions)
	}

	var status []map[string]any
	decode(t, fm(0, "cluster", "status", "-o", "json").stdout, &status)
	if len(status) != 3 {
		t.Fatalf("status rows = %v, want 3", status)
	}
	roles := map[string]int{}
	for _, s := range status {
		roles[fmt.Sprint(s["role"])]++
		if s["health"] != "healthy" || s["leader_id"] != leader.ID || s["ready"] != true || s["readiness"] != "ready" || s["not_ready_reason"] != nil {
			t.Errorf("status row %v", s)
		}
	}
	if roles["leader"] != 1 || roles["follower"] != 2 {
		t.Errorf("roles %v", roles)
	}
	if out := fm(0, "cluster", "status").stdout; !strings.Contains(out, "LAG") || !strings.Contains(out, "healthy") ||
		!strings.Contains(out, "READY") || strings.Contains(out, "not ready") {
		t.Errorf("status table:\n%s", out)
	}

	// Transfer to a named voter.
	fm(0, "cluster", "transfer-leader", followers[1].ID)
	if nl := rpctest.Leader(t, nodes); nl != followers[1] {
		t.Errorf("leader after transfer-leader = %s, want %s", nl.ID, followers[1].ID)
	}

	// Snapshot round trip: the state after restore is the state saved.
	fm(0, "kv", "create", "t1/ns1/cfg")
	fm(0, "kv", "put", "t1/ns1/cfg", "k", "before")
	fm(0, "kv", "get", "t1/ns1/cfg", "k") // linearizable: applied on the leader
	want, err := rpctest.Leader(t, nodes).Store.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snap.fms")
	fm(0, "cluster", "snapshot", "save", file)
	fm(0, "kv", "put", "t1/ns1/cfg", "k", "after")
	fm(0, "cluster", "snapshot", "restore", "--yes", file)
	if got := fm(0, "kv", "get", "t1/ns1/cfg", "k").stdout; !strings.Contains(got, "before") {
		t.Errorf("after restore: %s, want the saved value", got)
	}
	for _, n := range nodes {
		rpctest.WaitFor(t, 10*time.Second, "the restored state on "+n.ID, func() error {
			got, err := n.Store.StateHash()
			if err != nil || got != want {
				return fmt.Errorf("hash %s, %v; want %s", got, err, want)
			}
			return nil
		})
	}
	must(t, exitUsage, "", "--endpoints", ep, "cluster", "snapshot", "restore", filepath.Join(t.TempDir(), "missing"))

	// Leave: a follower named by ID, asked through another node.
	cur := rpctest.Leader(t, nodes)
	gone, other := rpctest.Followers(nodes, cur)[0], cur.Addr
	must(t, 0, "", "--endpoints", other, "--timeout", "30s", "cluster", "leave", "--node", gone.ID)
	rpctest.WaitFor(t, 10*time.Second, gone.ID+" out of the configuration", func() error {
		var ms []map[string]any
		decode(t, must(t, 0, "", "--endpoints", other, "cluster", "members", "-o", "json").stdout, &ms)
		for _, m := range ms {
			if m["id"] == gone.ID && m["in_config"] == true {
				return fmt.Errorf("still in the configuration: %v", m)
			}
		}
		return nil
	})
	// It is gone: removing it again is NotFound.
	if r := must(t, 1, "", "--endpoints", other, "cluster", "remove-peer", gone.ID); !strings.Contains(r.stderr, "not found") {
		t.Errorf("remove-peer of a removed node: %s", r.stderr)
	}
}

func TestReadySummary(t *testing.T) {
	for _, tc := range []struct {
		row  nodeStatus
		want string
	}{
		{nodeStatus{Readiness: "ready", Ready: true}, "yes"},
		{nodeStatus{Readiness: "catching-up", Behind: 4880}, "catching up 4880 entries"},
		{nodeStatus{Readiness: "catching-up"}, "catching up"},
		{nodeStatus{Readiness: "removed", AwaitingReadd: true}, "removed, awaiting re-add"},
		{nodeStatus{Readiness: "removed"}, "removed"},
		{nodeStatus{Readiness: "no-leader", AwaitingReadd: true}, "no leader (removed? awaiting re-add)"},
		{nodeStatus{Readiness: "no-leader"}, "no leader"},
		{nodeStatus{Readiness: "joining"}, "joining"},
		{nodeStatus{Health: "unreachable", Error: "refused"}, "-"},
		{nodeStatus{}, "?"},
	} {
		if got := readySummary(tc.row); got != tc.want {
			t.Errorf("readySummary(%+v) = %q, want %q", tc.row, got, tc.want)
		}
	}
}
