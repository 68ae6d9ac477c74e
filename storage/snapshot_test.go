package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

func compactingNode(t *testing.T, dir string) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.NodeID = "n1"
	cfg.SnapshotThreshold = 100 // TrailingLogs 125: a snapshot compacts the log
	cfg.SnapshotInterval = time.Hour
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
