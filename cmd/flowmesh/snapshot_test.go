package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestSnapshotRestoreForceClusterID: the CLI restores another cluster's
// snapshot only with --force-cluster-id, and a corrupt file is refused
// with the server's reason; refusals change nothing.
func TestSnapshotRestoreForceClusterID(t *testing.T) {
	ours := rpctest.StartCluster(t, 1, nil)[0]
	theirs := rpctest.StartCluster(t, 1, nil)[0]
	on := func(n *rpctest.Node, want int, args ...string) result {
		t.Helper()
		return must(t, want, "", append([]string{"--endpoints", n.Addr}, args...)...)
	}
	on(ours, 0, "kv", "create", "t1/ns1/cfg")
	on(ours, 0, "kv", "put", "t1/ns1/cfg", "k", "ours")
	on(theirs, 0, "kv", "create", "t1/ns1/cfg")
	on(theirs, 0, "kv", "put", "t1/ns1/cfg", "k", "theirs")
	file := filepath.Join(t.TempDir(), "theirs.fms")
	on(theirs, 0, "cluster", "snapshot", "save", file)

	r := on(ours, 1, "cluster", "snapshot", "restore", "--yes", file)
	if !strings.Contains(r.stderr, "--force-cluster-id") || !strings.Contains(r.stderr, "another cluster") {
		t.Errorf("restore of another cluster's snapshot: stderr %q, want it to name --force-cluster-id", r.stderr)
	}
	if got := on(ours, 0, "kv", "get", "t1/ns1/cfg", "k").stdout; !strings.Contains(got, "ours") {
		t.Errorf("after a refused restore: %s, want our value", got)
	}

	// A flipped byte in the stream: refused even when forced.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-len(b)/3] ^= 0x10
	bad := filepath.Join(t.TempDir(), "bad.fms")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := on(ours, 1, "cluster", "snapshot", "restore", "--yes", "--force-cluster-id", bad); !strings.Contains(r.stderr, "invalid snapshot") {
		t.Errorf("restore of a corrupt snapshot: stderr %q", r.stderr)
	}

	on(ours, 0, "cluster", "snapshot", "restore", "--yes", "--force-cluster-id", file)
	if got := on(ours, 0, "kv", "get", "t1/ns1/cfg", "k").stdout; !strings.Contains(got, "theirs") {
		t.Errorf("after a forced restore: %s, want their value", got)
	}
}
