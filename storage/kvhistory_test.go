package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// historyNode starts an embedded node on dir whose leader checks KV history
// age every 50 ms, with a max age of one hour on clock.
func historyNode(t *testing.T, dir string, clock *storage.OffsetClock) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.Clock = clock.Now
	cfg.RetentionInterval = 50 * time.Millisecond
	cfg.KVHistoryMaxAge = time.Hour
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// fillAndDelete puts n values of 256 KiB to one key, puts a small live key,
// deletes the big one and returns the first put's revision and the
// delete's.
func fillAndDelete(t *testing.T, kv storage.KVManager, path string, n int) (first, del uint64) {
	t.Helper()
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), flowmesh.MaxPayloadSize)
	for i := range n {
		rev, err := kv.Put(ctx, path, "big", value, flowmesh.KVPutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rev
		}
	}
	if _, err := kv.Put(ctx, path, "live", []byte("kept"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	del, err := kv.Delete(ctx, path, "big", flowmesh.KVDeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return first, del
}

// watchFrom watches path from rev until the first event or error.
func watchFrom(kv storage.KVManager, path string, rev uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stop := errors.New("got an event")
	err := kv.Watch(ctx, path, "", rev, func(flowmesh.KVEvent) error { return stop })
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// checkTrimmed checks that s holds no more than small bytes of history,
// that a watch from rev is Compacted with an oldest revision past del, and
// that the live key is intact and the deleted one gone.
func checkTrimmed(t *testing.T, s *storage.Storage, path string, rev, del uint64) error {
	t.Helper()
	if b, stores := s.KVHistoryStats(); stores != 1 || b > 4<<10 {
		return fmt.Errorf("history holds %d bytes in %d KV stores, want at most 4 KiB in 1", b, stores)
	}
	err := watchFrom(s.KVManager(), path, rev)
	if ce, ok := errors.AsType[*flowmesh.CompactedError](err); !ok || ce.Oldest <= del {
		return fmt.Errorf("watch from revision %d: %v, want CompactedError with Oldest past the delete's revision %d", rev, err, del)
	}
	ctx := context.Background()
	if e, err := s.KVManager().Get(ctx, path, "live"); err != nil || string(e.Value) != "kept" {
		t.Fatalf("live key: %+v, %v", e, err)
	}
	if _, err := s.KVManager().Get(ctx, path, "big"); !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("deleted key: %v, want ErrNotFound", err)
	}
	return nil
}

// TestKVHistoryAgesOut: the values of a deleted key stay in the Watch
// history (40 x 256 KiB, under the 64 MiB bound) until they are older than
// KVHistoryMaxAge; then the leader trims them, a watch from their
// revisions is Compacted, and a restart that replays the store's log keeps
// them trimmed with the live data intact.
func TestKVHistoryAgesOut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := &storage.OffsetClock{}
	s := historyNode(t, dir, clock)
	r, err := s.MetaStore().CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	path := r.GetPath()
	first, del := fillAndDelete(t, s.KVManager(), path, 40)
	if b, _ := s.KVHistoryStats(); b < 40*flowmesh.MaxPayloadSize {
		t.Fatalf("history holds %d bytes after 40 puts of 256 KiB, want all of them", b)
	}
	if err := watchFrom(s.KVManager(), path, first); err != nil {
		t.Fatalf("watch from the first put within the max age: %v", err)
	}

	clock.Advance(2 * time.Hour)
	waitFor(t, 10*time.Second, "the history to age out", func() error {
		return checkTrimmed(t, s, path, first, del)
	})
	rev, err := s.KVManager().Put(ctx, path, "after", []byte("trim"), flowmesh.KVPutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := watchFrom(s.KVManager(), path, rev); err != nil {
		t.Fatalf("watch from a change after the trim: %v", err)
	}
	want := mustHash(t, s)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	s = historyNode(t, dir, clock)
	if got := mustHash(t, s); got != want {
		t.Fatal("state after a restart differs")
	}
	if err := checkTrimmed(t, s, path, first, del); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if err := watchFrom(s.KVManager(), path, rev); err != nil {
		t.Fatalf("after a restart, watch from a change after the trim: %v", err)
	}
}

// TestKVHistoryAgesOutOnEveryReplica: in a three-node cluster the trim the
// leader proposes leaves every replica with the same state (StateHash
// covers the history) and the deleted key's values gone from each.
func TestKVHistoryAgesOutOnEveryReplica(t *testing.T) {
	ctx := context.Background()
	clock := &storage.OffsetClock{}
	nodes := startCluster(t, 3, func(c *storage.Config) {
		c.Clock = clock.Now
		c.RetentionInterval = 50 * time.Millisecond
		c.KVHistoryMaxAge = time.Hour
	})
	leader := leaderOf(t, nodes)
	r, err := leader.s.MetaStore().CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	_, del := fillAndDelete(t, leader.s.KVManager(), r.GetPath(), 20)
	clock.Advance(2 * time.Hour)
	waitFor(t, 30*time.Second, "every replica to trim the history alike", func() error {
		var first string
		var index uint64
		for _, n := range nodes {
			if b, _ := n.s.KVHistoryStats(); b > 4<<10 {
				return fmt.Errorf("%s holds %d bytes of history", n.id, b)
			}
			h, i, err := n.s.StateHashIndex()
			if err != nil {
				return err
			}
			if first == "" {
				first, index = h, i
			} else if i != index || h != first {
				return fmt.Errorf("%s at index %d, hash %.8s; %s at %d, %.8s", nodes[0].id, index, first, n.id, i, h)
			}
		}
		return nil
	})
	for _, n := range nodes {
		if err := watchFrom(n.s.KVManager(), r.GetPath(), del); !errors.Is(err, flowmesh.ErrCompacted) {
			t.Fatalf("%s: watch from the delete's revision: %v, want ErrCompacted", n.id, err)
		}
	}
}
