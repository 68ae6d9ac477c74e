package cluster_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// TestBadSnapshotRestoreThroughFollowers replays issue 9's first finding
// on real processes: the valid but empty 18-byte snapshot, sent twice
// through each follower (relayed to the leader), and a snapshot with a
// flipped byte. Each is refused as invalid; no node exits, the leader
// stays the same, and the cluster keeps its data and takes writes.
func TestBadSnapshotRestoreThroughFollowers(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3)
	li := c.Leader(20 * time.Second)
	leaderID := c.Nodes[li].ID
	ctx := withTimeout(t, 90*time.Second)
	cl := c.Client(client.Config{})
	kv, err := cl.CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	if err := putVia(ctx, c.Nodes[li], kv.GetPath(), "before", "v"); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	info, err := c.Nodes[li].Client().SnapshotSave(ctx, &saved)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(saved.Bytes())
	flipped[len(flipped)/2] ^= 0x08

	empty := []byte("FMSD\x01E")
	empty = binary.BigEndian.AppendUint64(empty, 0)
	empty = binary.BigEndian.AppendUint32(empty, crc32.Checksum(empty, crc32.MakeTable(crc32.Castagnoli)))
	if len(empty) != 18 {
		t.Fatalf("empty snapshot is %d bytes", len(empty))
	}
	uploads := []struct {
		name string
		data []byte
	}{{"empty", empty}, {"empty again", empty}, {"flipped byte", flipped}}
	n := 0
	for i, nd := range c.Nodes {
		if i == li {
			continue
		}
		for _, up := range uploads {
			info := client.SnapshotInfo{Index: info.Index, Term: info.Term, Version: info.Version, Size: int64(len(up.data))}
			err := nd.Client().SnapshotRestore(ctx, info, bytes.NewReader(up.data), client.ForceClusterID())
			if !errors.Is(err, flowmesh.ErrInvalidArgument) {
				t.Fatalf("%s snapshot through %s: %v, want invalid argument", up.name, nd.ID, err)
			}
			for _, o := range c.Nodes {
				if !o.Running() {
					t.Fatalf("%s exited after the %s snapshot through %s", o.ID, up.name, nd.ID)
				}
			}
			if now := c.Nodes[c.Leader(20*time.Second)].ID; now != leaderID {
				t.Fatalf("leader changed from %s to %s after the %s snapshot", leaderID, now, up.name)
			}
			n++
			if err := putVia(ctx, nd, kv.GetPath(), fmt.Sprintf("k%d", n), "v"); err != nil {
				t.Fatalf("write after the %s snapshot: %v", up.name, err)
			}
		}
	}
	for _, nd := range c.Nodes {
		e, err := nd.Client().Get(ctx, kv.GetPath(), "before")
		if err != nil || string(e.Value) != "v" {
			t.Errorf("%s: before = %v, %v after the refused restores", nd.ID, e, err)
		}
	}
}
