package rpc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh/internal/snapdir"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
	"github.com/flowmesh/flowmesh/storage"
)

func saveSnapshot(t *testing.T, cc *grpc.ClientConn) (*pb.SnapshotInfo, []byte) {
	t.Helper()
	save, err := pb.NewClusterServiceClient(cc).SnapshotSave(ctxFor(t), &pb.SnapshotSaveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var info *pb.SnapshotInfo
	var data bytes.Buffer
	for {
		msg, err := save.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SnapshotSave: %v", err)
		}
		if msg.GetInfo() != nil {
			info = msg.GetInfo()
		}
		data.Write(msg.GetData())
	}
	if info == nil || info.GetSize() != int64(data.Len()) {
		t.Fatalf("snapshot info %v for %d bytes", info, data.Len())
	}
	return info, data.Bytes()
}

// uploadSnapshot sends data with a copy of info whose size is size.
func uploadSnapshot(t *testing.T, cc *grpc.ClientConn, info *pb.SnapshotInfo, size int64, data []byte, force bool) error {
	t.Helper()
	restore, err := pb.NewClusterServiceClient(cc).SnapshotRestore(ctxFor(t))
	if err != nil {
		return err
	}
	first := &pb.SnapshotRestoreRequest{Info: &pb.SnapshotInfo{Index: info.GetIndex(), Term: info.GetTerm(),
		Version: info.GetVersion(), Id: info.GetId(), Size: size}, ForceClusterId: force}
	for len(data) > 0 || first != nil {
		n := min(len(data), 64<<10)
		msg := &pb.SnapshotRestoreRequest{Data: data[:n]}
		if first != nil {
			first.Data, msg, first = data[:n], first, nil
		}
		if err := restore.Send(msg); err != nil {
			break // the answer comes from CloseAndRecv
		}
		data = data[n:]
	}
	_, err = restore.CloseAndRecv()
	return err
}

// reencode decodes a snapshot stream, lets edit change its files, and
// encodes it again: a well-formed stream with the edited content.
func reencode(t *testing.T, data []byte, edit func(dir string)) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "snap")
	if err := snapdir.Read(bytes.NewReader(data), dir); err != nil {
		t.Fatal(err)
	}
	edit(dir)
	var out bytes.Buffer
	if err := snapdir.Write(&out, dir); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// emptySnapshot is the 18-byte stream of a snapshot with no files: a
// valid snapdir stream without a checkpoint.
func emptySnapshot() []byte {
	b := []byte("FMSD\x01E")
	b = binary.BigEndian.AppendUint64(b, 0)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestSnapshotRestoreGuards uploads bad snapshots through a follower of a
// three-node cluster: each is refused with its code, nobody crashes (a
// panic would end this test binary), the leader stays, the state is
// unchanged and the cluster serves writes and reads. Another cluster's
// snapshot is refused unless forced, and once restored, belongs to this
// cluster.
func TestSnapshotRestoreGuards(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	f := dial(t, rpctest.Followers(nodes, leader)[0].Addr)
	ctx := ctxFor(t)
	if _, err := pb.NewResourceServiceClient(f).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	kv := pb.NewKVServiceClient(f)
	put := func(key string) {
		t.Helper()
		if _, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: key, Value: []byte("v")}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	put("mine")
	info, good := saveSnapshot(t, f)
	put("after-save")
	if _, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "after-save"}); err != nil {
		t.Fatal(err)
	}
	want, err := leader.Store.StateHash()
	if err != nil {
		t.Fatal(err)
	}

	other := rpctest.StartCluster(t, 1, nil)
	oc := dial(t, other[0].Addr)
	if _, err := pb.NewResourceServiceClient(oc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewKVServiceClient(oc).Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "theirs", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	oinfo, foreign := saveSnapshot(t, oc)
	otherHash, err := other[0].Store.StateHash()
	if err != nil {
		t.Fatal(err)
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	noID := reencode(t, good, func(dir string) {
		if err := os.Remove(filepath.Join(dir, "cluster-id")); err != nil {
			t.Fatal(err)
		}
	})
	emptyCheckpoint := reencode(t, good, func(dir string) {
		if err := os.Truncate(filepath.Join(dir, "checkpoint.pb"), 0); err != nil {
			t.Fatal(err)
		}
	})
	garbageCheckpoint := reencode(t, good, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "checkpoint.pb"), []byte("\xff\xff\xff\xff not a checkpoint"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	cases := []struct {
		name  string
		data  []byte
		size  int64 // 0: len(data)
		force bool
		want  codes.Code
	}{
		{"empty 18-byte snapshot", emptySnapshot(), 0, false, codes.InvalidArgument},
		{"empty 18-byte snapshot, forced", emptySnapshot(), 0, true, codes.InvalidArgument},
		{"truncated", good[:len(good)-7], 0, false, codes.InvalidArgument},
		{"shorter than its size", good[:len(good)-7], int64(len(good)), false, codes.InvalidArgument},
		{"longer than its size", good, int64(len(good) - 1), false, codes.InvalidArgument},
		{"flipped byte", flipped, 0, false, codes.InvalidArgument},
		{"empty checkpoint", emptyCheckpoint, 0, true, codes.InvalidArgument},
		{"undecodable checkpoint", garbageCheckpoint, 0, true, codes.InvalidArgument},
		{"no cluster ID", noID, 0, false, codes.FailedPrecondition},
		{"another cluster", foreign, 0, false, codes.FailedPrecondition},
		{"not a snapshot", []byte("hello"), 0, true, codes.InvalidArgument},
	}
	for i, tc := range cases {
		size := tc.size
		if size == 0 {
			size = int64(len(tc.data))
		}
		err := uploadSnapshot(t, f, info, size, tc.data, tc.force)
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: %v (%s), want %s", tc.name, err, got, tc.want)
		}
		if now := rpctest.Leader(t, nodes); now != leader {
			t.Fatalf("%s: leader changed from %s to %s", tc.name, leader.ID, now.ID)
		}
		if got, err := leader.Store.StateHash(); err != nil || got != want {
			t.Fatalf("%s: state %s, %v; want %s", tc.name, got, err, want)
		}
		key := fmt.Sprintf("k%d", i)
		put(key)
		if _, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: key}); err != nil {
			t.Fatalf("%s: Get after: %v", tc.name, err)
		}
		if want, err = leader.Store.StateHash(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if n.Stopped() {
			t.Fatalf("%s stopped", n.ID)
		}
	}
	// Refused uploads leave nothing staged.
	entries, err := os.ReadDir(filepath.Join(leader.Store.Config().DataDir, "raft", "restore"))
	if err != nil {
		t.Fatalf("the leader staged no upload: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("refused uploads left %d entries in the staging directory", len(entries))
	}

	// An older-format snapshot (no cluster ID) and another cluster's are
	// accepted when forced.
	if err := uploadSnapshot(t, f, info, int64(len(noID)), noID, true); err != nil {
		t.Fatalf("forced restore of a snapshot without a cluster ID: %v", err)
	}
	if err := uploadSnapshot(t, f, oinfo, int64(len(foreign)), foreign, true); err != nil {
		t.Fatalf("forced restore of another cluster's snapshot: %v", err)
	}
	for _, n := range nodes {
		rpctest.WaitFor(t, 15*time.Second, "the other cluster's state on "+n.ID, func() error {
			got, err := n.Store.StateHash()
			if err != nil || got != otherHash {
				return fmt.Errorf("state %s, %v; want %s", got, err, otherHash)
			}
			return nil
		})
	}
	if _, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "theirs"}); err != nil {
		t.Fatalf("Get of the restored key: %v", err)
	}
	put("after-forced")
	// The restored state now belongs to this cluster: its snapshots carry
	// this cluster's ID and restore without force.
	info, good = saveSnapshot(t, f)
	if err := uploadSnapshot(t, f, info, int64(len(good)), good, false); err != nil {
		t.Fatalf("restore of this cluster's own snapshot after a forced restore: %v", err)
	}
	put("after-own")
}

// TestSnapshotRestoreSizeBound: an upload larger than
// storage.Config.Raft.SnapshotRestoreMaxBytes is refused.
func TestSnapshotRestoreSizeBound(t *testing.T) {
	nodes := rpctest.StartCluster(t, 1, func(cfg *storage.Config) { cfg.Raft.SnapshotRestoreMaxBytes = 64 })
	cc := dial(t, nodes[0].Addr)
	info, data := saveSnapshot(t, cc)
	if len(data) <= 64 {
		t.Fatalf("snapshot of %d bytes is within the bound", len(data))
	}
	err := uploadSnapshot(t, cc, info, int64(len(data)), data, false)
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Fatalf("upload of %d bytes with a bound of 64: %v, want ResourceExhausted", len(data), err)
	}
}
