package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/nodeadmin"
	"github.com/flowmesh/flowmesh/storage"
)

func compactingNode(t *testing.T, dir string) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.NodeID = "n1"
	cfg.Raft.SnapshotThreshold = 100 // TrailingLogs 125: a snapshot compacts the log
	cfg.Raft.SnapshotInterval = time.Hour
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustHash(t *testing.T, s *storage.Storage) string {
	t.Helper()
	h, err := s.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// After a snapshot compacts the raft log, a restart recovers the same state
// from the local stores; with the FSM's data wiped, it recovers it from the
// snapshot plus the log tail.
func TestRestartAfterLogCompaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := compactingNode(t, dir)
	f := storage.NewResourceFactory(s.MetaStore())
	st, err := f.CreateStream(ctx, "t", "ns", "s", 3)
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.CreateQueue(ctx, "t", "ns", "q", 1)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := f.CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			p := []byte(fmt.Sprintf("v%d", i))
			if _, err := s.StreamManager().WriteEvents(ctx, st.GetPath(), []flowmesh.StreamEvent{{Payload: p, Key: string(p)}}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.QueueManager().Enqueue(ctx, q.GetPath(), p, flowmesh.QueueEnqueueOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.KVManager().Put(ctx, kv.GetPath(), fmt.Sprintf("k%d", i%10), p, flowmesh.KVPutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 300)
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	write(300, 330) // a tail after the snapshot
	want := mustHash(t, s)
	st1, _ := s.Status()
	if st1.LastSnapshotIndex == 0 {
		t.Fatalf("no snapshot taken: %+v", st1)
	}
	first, err := s.Cluster().FirstLogIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 1 {
		t.Fatalf("raft log not compacted: first index %d", first)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	s = compactingNode(t, dir)
	if got := mustHash(t, s); got != want {
		t.Fatalf("after restart: state %s, want %s", got, want)
	}
	write(330, 340)
	want = mustHash(t, s)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(filepath.Join(dir, "fsm")); err != nil {
		t.Fatal(err)
	}
	s = compactingNode(t, dir)
	defer s.Stop(ctx)
	if got := mustHash(t, s); got != want {
		t.Fatalf("after wiping the FSM's data: state %s, want %s", got, want)
	}
	msgs, err := s.StreamManager().ReadFromOffset(ctx, st.GetPath(), 0, 0, 10)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("read after restore: %d messages, %v", len(msgs), err)
	}
}

// The operations a server uses instead of the raft wrapper: SaveSnapshot
// streams a snapshot with its metadata, RestoreSnapshot takes that stream
// back through raft (the state written after the save is gone), and
// SegmentBytes, ID and IsLeader describe the node without its layout.
func TestSaveRestoreSnapshotOperations(t *testing.T) {
	ctx := context.Background()
	s := compactingNode(t, t.TempDir())
	defer s.Stop(ctx)
	if s.ID() != "n1" || !s.IsLeader() {
		t.Fatalf("ID %q IsLeader %v, want n1 and true", s.ID(), s.IsLeader())
	}
	kv, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, kv.GetPath(), "k", []byte("saved"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.SegmentBytes(); n <= 0 {
		t.Errorf("SegmentBytes = %d after a put, want > 0", n)
	}
	meta, rc, err := s.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	if meta.ID == "" || meta.Index == 0 || meta.Index > st.AppliedIndex || meta.Term != st.Term || meta.Size != int64(len(data)) {
		t.Fatalf("meta %+v for %d bytes, status applied %d term %d", meta, len(data), st.AppliedIndex, st.Term)
	}
	if _, err := s.KVManager().Put(ctx, kv.GetPath(), "k", []byte("after"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreSnapshot(ctx, bytes.NewReader(data), nodeadmin.RestoreOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	e, err := s.KVManager().Get(ctx, kv.GetPath(), "k")
	if err != nil || string(e.Value) != "saved" {
		t.Fatalf("after restore: %+v, %v; want the saved value", e, err)
	}
	if err := s.RestoreSnapshot(ctx, bytes.NewReader(data[:len(data)/2]), nodeadmin.RestoreOptions{Size: int64(len(data))}); err == nil {
		t.Error("a truncated stream restored")
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SaveSnapshot(ctx); !errors.Is(err, flowmesh.ErrStopped) {
		t.Errorf("SaveSnapshot after Stop = %v, want ErrStopped", err)
	}
	if err := s.RestoreSnapshot(ctx, bytes.NewReader(data), nodeadmin.RestoreOptions{Size: int64(len(data))}); !errors.Is(err, flowmesh.ErrStopped) {
		t.Errorf("RestoreSnapshot after Stop = %v, want ErrStopped", err)
	}
	if s.SegmentBytes() != 0 || s.ID() != "" || s.IsLeader() {
		t.Errorf("after Stop: SegmentBytes %d, ID %q, IsLeader %v; want 0, \"\", false", s.SegmentBytes(), s.ID(), s.IsLeader())
	}
}
