package storage_test

import (
	"context"
	"testing"

	"github.com/flowmesh/flowmesh/storage"
)

// TestDirectAndAccessorsShareState: the node's own methods and the views
// the founding API hands out are the same node, so what one writes the
// other reads.
func TestDirectAndAccessorsShareState(t *testing.T) {
	s, _ := startNode(t)
	ctx := context.Background()
	// The views are the node itself: one method set, no second code path.
	if s.StreamManager() != storage.StreamManager(s) || s.QueueManager() != storage.QueueManager(s) || s.KVManager() != storage.KVManager(s) {
		t.Errorf("StreamManager, QueueManager and KVManager are not the node itself")
	}
	stream, err := storage.NewResourceFactory(s.MetaStore()).CreateStream(ctx, "t1", "ns1", "events", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetResource(ctx, stream.GetPath()); err != nil {
		t.Fatalf("GetResource of a stream the factory created: %v", err)
	}
	pos, err := s.WriteEvents(ctx, stream.GetPath(), []storage.StreamEvent{{Payload: []byte("direct")}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.StreamManager().ReadFromOffset(ctx, stream.GetPath(), 0, pos[0].Offset, 10)
	if err != nil || len(msgs) != 1 || string(msgs[0].Payload) != "direct" {
		t.Fatalf("accessor read of a direct write: %v, %v", msgs, err)
	}

	q, err := s.CreateQueue(ctx, "t1", "ns1", "jobs", 1)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.QueueManager().Enqueue(ctx, q.GetPath(), []byte("p"), storage.QueueEnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := s.Reserve(ctx, q.GetPath(), 0)
	if err != nil || job == nil || job.ID != id {
		t.Fatalf("direct reserve of an accessor enqueue: %v, %v (want job %s)", job, err, id)
	}
	if err := s.QueueManager().RemoveFromInFlight(ctx, q.GetPath(), job.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(ctx, q.GetPath()); err != nil || st.Ready+st.InFlight != 0 {
		t.Fatalf("stats after ack: %+v, %v", st, err)
	}

	kvs, err := s.CreateKVStore(ctx, "t1", "ns1", "cfg")
	if err != nil {
		t.Fatal(err)
	}
	next, err := s.NextRevision(ctx, kvs.GetPath())
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.KVManager().Put(ctx, kvs.GetPath(), "k", []byte("v"), storage.KVPutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev < next {
		t.Fatalf("put's revision %d is below NextRevision %d asked before it", rev, next)
	}
	if e, err := s.Get(ctx, kvs.GetPath(), "k"); err != nil || string(e.Value) != "v" || e.Revision != rev {
		t.Fatalf("direct get of an accessor put: %+v, %v (want v at %d)", e, err, rev)
	}
}
