package pbconv

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// roundTrip marshals m and unmarshals it into a fresh message, as the wire does.
func roundTrip[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrips(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	resources := []*flowmesh.Resource{
		{Tenant: "t", Namespace: "n", Name: "s", Kind: flowmesh.KindStream, CreatedAt: at, Revision: 9,
			Stream: &flowmesh.StreamConfig{Partitions: 3, MaxAge: time.Hour, MaxBytes: 1 << 20}},
		{Tenant: "t", Namespace: "n", Name: "q", Kind: flowmesh.KindQueue, CreatedAt: at, Revision: 10,
			Queue: &flowmesh.QueueConfig{VisibilityTimeout: time.Minute, MaxAttempts: 7, DeadLetterQueue: "t/n/d", MaxPayload: 100}},
		{Tenant: "t", Namespace: "n", Name: "kv", Kind: flowmesh.KindKV, Revision: 11, KV: &flowmesh.KVConfig{HistoryRevisions: 50}},
	}
	for _, r := range resources {
		if got := FromResource(roundTrip(t, Resource(r))); !reflect.DeepEqual(got, r) {
			t.Errorf("Resource round trip = %+v, want %+v", got, r)
		}
	}

	msg := flowmesh.Message{Partition: 2, Offset: 1 << 40, Timestamp: at, Key: "k\xff", Payload: []byte("p"), Headers: map[string]string{"a": "b"}}
	if got := FromMessage(roundTrip(t, Message(msg))); !reflect.DeepEqual(got, msg) {
		t.Errorf("Message round trip = %+v, want %+v", got, msg)
	}
	evs := []flowmesh.StreamEvent{{Payload: []byte("x"), Headers: map[string]string{"h": "v"}, Key: "\x00k", Partition: 5}}
	req := roundTrip(t, &pb.WriteEventsRequest{Events: StreamEvents(evs)})
	if got := FromStreamEvents(req.GetEvents()); !reflect.DeepEqual(got, evs) {
		t.Errorf("StreamEvents round trip = %+v, want %+v", got, evs)
	}

	job := &flowmesh.Job{ID: "7.0", Seq: 3, Payload: []byte("j"), Attempt: 2, EnqueuedAt: at, VisibleUntil: at.Add(time.Minute),
		Receipt: flowmesh.Receipt{JobID: "7.0", Attempt: 2}}
	if got := FromJob(roundTrip(t, Job(job))); !reflect.DeepEqual(got, job) {
		t.Errorf("Job round trip = %+v, want %+v", got, job)
	}
	if FromJob(nil) != nil || Job(nil) != nil {
		t.Error("a nil job must stay nil")
	}
	stats := flowmesh.QueueStats{Ready: 1, Delayed: 2, InFlight: 3, Dead: 4, OldestReadyAge: time.Second}
	if got := FromQueueStats(roundTrip(t, QueueStats(stats))); got != stats {
		t.Errorf("QueueStats round trip = %+v, want %+v", got, stats)
	}

	entry := flowmesh.KVEntry{Key: "a/\u00fe", Value: []byte("v"), Revision: 5, CreateRevision: 2, ExpiresAt: at}
	if got := FromKVEntry(roundTrip(t, KVEntry(entry))); !reflect.DeepEqual(got, entry) {
		t.Errorf("KVEntry round trip = %+v, want %+v", got, entry)
	}
	ev := flowmesh.KVEvent{Type: flowmesh.KVEventExpire, Key: "k", Revision: 8}
	if got := FromKVEvent(roundTrip(t, KVEvent(ev))); !reflect.DeepEqual(got, ev) {
		t.Errorf("KVEvent round trip = %+v, want %+v", got, ev)
	}

	opts := []flowmesh.CallOptions{
		{},
		{RequestID: "r", ProducerID: "p", ProducerSeq: 4},
		{Consistency: flowmesh.Leader},
		{Consistency: flowmesh.Stale, MaxStaleness: 3 * time.Second},
	}
	for _, o := range opts {
		p := CallOptions(o)
		if p != nil {
			p = roundTrip(t, p)
		}
		if got := FromCallOptions(p); got != o {
			t.Errorf("CallOptions round trip = %+v, want %+v", got, o)
		}
		if got := flowmesh.ApplyCallOptions([]flowmesh.CallOption{CallOption(o)}); got != o {
			t.Errorf("CallOption applied = %+v, want %+v", got, o)
		}
	}
}
