package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// Every bad call gets its typed error and leaves the state hash unchanged.
func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := startNode(t)
	f := storage.NewResourceFactory(s.MetaStore())
	st, err := f.CreateStream(ctx, "t", "ns", "s", 2)
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.CreateQueue(ctx, "t", "ns", "q", 1, flowmesh.WithMaxPayload(100))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := f.CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	// A queue of another tenant: naming it as a dead-letter queue must fail
	// although it exists.
	if _, err := f.CreateQueue(ctx, "other", "ns", "dlq", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, kv.GetPath(), "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.QueueManager().Enqueue(ctx, q.GetPath(), []byte("j"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	job, err := s.QueueManager().Reserve(ctx, q.GetPath(), time.Minute)
	if err != nil || job == nil {
		t.Fatalf("reserve: %v %v", job, err)
	}
	before := mustHash(t, s)

	big := make([]byte, flowmesh.MaxPayloadSize+1)
	many := make([]flowmesh.StreamEvent, flowmesh.MaxBatchEvents+1)
	tooMuch := make([]flowmesh.StreamEvent, 3)
	for i := range tooMuch {
		tooMuch[i] = flowmesh.StreamEvent{Payload: make([]byte, flowmesh.MaxPayloadSize)}
	}
	sm, qm, km := s.StreamManager(), s.QueueManager(), s.KVManager()
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"oversized event", func() error {
			_, err := sm.WriteEvents(ctx, st.GetPath(), []flowmesh.StreamEvent{{Payload: big}})
			return err
		}, flowmesh.ErrLimitExceeded},
		{"too many events", func() error { _, err := sm.WriteEvents(ctx, st.GetPath(), many); return err }, flowmesh.ErrLimitExceeded},
		{"batch over the byte limit", func() error { _, err := sm.WriteEvents(ctx, st.GetPath(), tooMuch); return err }, flowmesh.ErrLimitExceeded},
		{"empty batch", func() error { _, err := sm.WriteEvents(ctx, st.GetPath(), nil); return err }, flowmesh.ErrInvalidArgument},
		{"partition out of range", func() error {
			_, err := sm.WriteEvents(ctx, st.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("x")}, {Payload: []byte("y"), Partition: 2}})
			return err
		}, flowmesh.ErrInvalidArgument},
		{"invalid path", func() error {
			_, err := sm.WriteEvents(ctx, "t/ns/bad name", []flowmesh.StreamEvent{{Payload: []byte("x")}})
			return err
		}, flowmesh.ErrInvalidArgument},
		{"unknown stream", func() error {
			_, err := sm.WriteEvents(ctx, "t/ns/nope", []flowmesh.StreamEvent{{Payload: []byte("x")}})
			return err
		}, flowmesh.ErrNotFound},
		{"stream op on a queue", func() error {
			_, err := sm.WriteEvents(ctx, q.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("x")}})
			return err
		}, flowmesh.ErrWrongKind},
		{"job over the queue's max payload", func() error {
			_, _, err := qm.Enqueue(ctx, q.GetPath(), make([]byte, 101), flowmesh.QueueEnqueueOptions{})
			return err
		}, flowmesh.ErrLimitExceeded},
		{"negative delay", func() error {
			_, _, err := qm.Enqueue(ctx, q.GetPath(), []byte("x"), flowmesh.QueueEnqueueOptions{Delay: -time.Second})
			return err
		}, flowmesh.ErrInvalidArgument},
		{"stale receipt", func() error {
			return qm.Ack(ctx, q.GetPath(), flowmesh.Receipt{JobID: job.ID, Attempt: job.Attempt + 1})
		}, flowmesh.ErrStaleReceipt},
		{"unknown job", func() error { return qm.Ack(ctx, q.GetPath(), flowmesh.Receipt{JobID: "9.9", Attempt: 1}) }, flowmesh.ErrNotFound},
		{"empty receipt", func() error { return qm.Ack(ctx, q.GetPath(), flowmesh.Receipt{}) }, flowmesh.ErrInvalidArgument},
		{"kv CAS mismatch", func() error {
			_, err := km.Put(ctx, kv.GetPath(), "k", []byte("w"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)})
			return err
		}, flowmesh.ErrRevisionMismatch},
		{"kv key too long", func() error {
			_, err := km.Put(ctx, kv.GetPath(), strings.Repeat("k", flowmesh.MaxKeyLength+1), nil, flowmesh.KVPutOptions{})
			return err
		}, flowmesh.ErrLimitExceeded},
		{"kv empty key", func() error {
			_, err := km.Put(ctx, kv.GetPath(), "", nil, flowmesh.KVPutOptions{})
			return err
		}, flowmesh.ErrInvalidArgument},
		{"kv value too large", func() error {
			_, err := km.Put(ctx, kv.GetPath(), "k", big, flowmesh.KVPutOptions{})
			return err
		}, flowmesh.ErrLimitExceeded},
		{"kv delete missing", func() error {
			_, err := km.Delete(ctx, kv.GetPath(), "missing", flowmesh.KVDeleteOptions{})
			return err
		}, flowmesh.ErrNotFound},
		{"duplicate resource", func() error { _, err := f.CreateKVStore(ctx, "t", "ns", "kv"); return err }, flowmesh.ErrAlreadyExists},
		{"bad tenant", func() error { _, err := f.CreateKVStore(ctx, "-t", "ns", "x"); return err }, flowmesh.ErrInvalidArgument},
		{"queue with two partitions", func() error { _, err := f.CreateQueue(ctx, "t", "ns", "q2", 2); return err }, flowmesh.ErrInvalidArgument},
		{"unknown dead-letter queue", func() error {
			_, err := f.CreateQueue(ctx, "t", "ns", "q3", 1, flowmesh.WithDeadLetterQueue("t/ns/none"))
			return err
		}, flowmesh.ErrInvalidArgument},
		{"dead-letter queue of another tenant", func() error {
			_, err := f.CreateQueue(ctx, "t", "ns", "q4", 1, flowmesh.WithDeadLetterQueue("other/ns/dlq"))
			return err
		}, flowmesh.ErrInvalidArgument},
	}
	for _, tc := range cases {
		err := tc.call()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if got := mustHash(t, s); got != before {
			t.Fatalf("%s changed the state", tc.name)
		}
	}
	var ia *flowmesh.InvalidArgumentError
	_, err = f.CreateKVStore(ctx, "t", "bad/ns", "x")
	if !errors.As(err, &ia) || ia.Field != "namespace" {
		t.Errorf("bad namespace: %v, want an InvalidArgumentError naming namespace", err)
	}
}
